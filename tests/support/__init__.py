"""Helpers shared by the test modules: running the CLI, JACK servers and clients, FluidSynth
notes, tiny model bundles. No fixtures and no tests: those live in ``conftest.py`` and the
``test_*.py`` modules, which import from here and never from each other."""
