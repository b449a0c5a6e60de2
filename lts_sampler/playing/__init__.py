"""Playing (DESIGN §2): the sampler engine, its live host and the offline MIDI render.

Reads kits through the core's kit format; never imports onnxruntime, librosa or textual,
so ``play``, ``bridge`` and ``render-midi`` start quickly.
"""
