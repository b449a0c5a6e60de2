"""Distances between magnitude spectrograms (DESIGN §7)."""

from __future__ import annotations

import numpy as np

LOG_FLOOR = 1e-5


def spectral_convergence(estimate: np.ndarray, target: np.ndarray) -> float:
    """‖Ŝ − S‖_F / ‖S‖_F over arrays of the same shape (frames × bins, linear)."""
    return float(np.linalg.norm(estimate - target) / max(np.linalg.norm(target), 1e-12))


def log_spectral_distance(estimate: np.ndarray, target: np.ndarray) -> float:
    """Mean over frames of the RMS over bins of 20·log10((Ŝ + 1e-5) / (S + 1e-5)), in dB."""
    ratio_db = 20.0 * np.log10((estimate + LOG_FLOOR) / (target + LOG_FLOOR))
    return float(np.mean(np.sqrt(np.mean(ratio_db**2, axis=-1))))
