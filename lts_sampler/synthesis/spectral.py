"""Constant-Q magnitudes and phase reconstruction at a model's audio spec."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import librosa
import numpy as np

from lts_sampler.core.spec import AudioSpec


@contextlib.contextmanager
def quiet_short_input() -> Iterator[None]:
    """Short sounds (a 40 ms tabla hit) are shorter than the low octaves' FFTs; librosa pads
    them and warns once per octave. The result is right, so the warning is noise."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="n_fft=.* is too large", category=UserWarning)
        yield


def cqt_magnitude(y: np.ndarray, spec: AudioSpec) -> np.ndarray:
    """Constant-Q magnitude frames of a mono signal.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float, at ``spec.sample_rate``

    Returns
    -------
    magnitude : np.ndarray [shape=(frames, spec.n_bins), dtype=float32]
        Linear magnitude, one row per hop (librosa's bins × frames, transposed).
    """
    with quiet_short_input():
        c = librosa.cqt(
            np.asarray(y, dtype=np.float32),
            sr=spec.sample_rate,
            hop_length=spec.hop_length,
            fmin=spec.fmin_hz,
            n_bins=spec.n_bins,
            bins_per_octave=spec.bins_per_octave,
        )
    return np.ascontiguousarray(np.abs(c).T, dtype=np.float32)


def griffinlim(
    magnitude: np.ndarray,
    spec: AudioSpec,
    *,
    n_iter: int = 32,
    seed: int = 0,
    length: int | None = None,
) -> np.ndarray:
    """Audio whose constant-Q magnitude approximates ``magnitude`` (the LTS reference method).

    Parameters
    ----------
    magnitude : np.ndarray [shape=(frames, n_bins)], linear
    n_iter : Griffin–Lim iterations
    seed : seed of the random initial phase
    length : samples of output; default ``frames * hop_length``

    Returns
    -------
    y : np.ndarray [shape=(length,), dtype=float32]
    """
    with quiet_short_input():
        y = librosa.griffinlim_cqt(
            np.ascontiguousarray(magnitude.T),
            n_iter=n_iter,
            sr=spec.sample_rate,
            hop_length=spec.hop_length,
            fmin=spec.fmin_hz,
            bins_per_octave=spec.bins_per_octave,
            init="random",
            random_state=seed,
            length=length,
            dtype=np.float32,
        )
    return y.astype(np.float32)
