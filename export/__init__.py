"""Training side of lts-sampler: dataset, VAE models, training loop, ONNX export.

The repository's ``export/`` folder, installed as ``lts_sampler.training``. Only
``lts_sampler.training.dataset`` works without torch; the rest needs the ``train`` extra.
"""
