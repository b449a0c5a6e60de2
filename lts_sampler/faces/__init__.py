"""The faces (DESIGN §2): the command line, ``doctor`` and the terminal UI.

Thin: they parse, call the layers below and report. Only the terminal UI imports textual,
and only the ``train`` and ``export`` verbs import :mod:`lts_sampler.training`, lazily.
"""
