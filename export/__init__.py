"""Training side of lts-sampler: dataset, VAE models, training loop, ONNX export.

Only ``export.dataset`` works without torch; the rest needs the ``train`` extra.
"""
