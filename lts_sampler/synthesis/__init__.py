"""Synthesis: audio in, samples out (DESIGN §2), on the core.

Audio I/O and the constant-Q transform (librosa, soxr), the model bundle in onnxruntime,
phase reconstruction (scipy, optionally CuPy), several pitches, and rendering a bank.
"""
