"""Latent mixing (DESIGN §5): α lists, α curves, N-source weights, trajectory resampling.

For two sources z(t) = (1 − α(t))·z_A(t) + α(t)·z_B(t): α = 0 is A, α = 1 is B, α outside
[0, 1] extrapolates. For N sources z(t) = Σ w_i(t)·z_i(t) with Σ w_i = 1.
"""

from __future__ import annotations

import numpy as np

from lts_sampler.core.errors import BadValue


def parse_alphas(text: str) -> list[float]:
    """``"-0.5:1.5:0.25"`` (start:stop:step, stop included) or ``"0,0.3,1.2"`` → α values."""
    try:
        if ":" in text:
            start, stop, step = (float(part) for part in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            count = int(np.floor((stop - start) / step + 1e-9)) + 1
            values = [round(start + i * step, 10) for i in range(count)]
        else:
            values = [float(part) for part in text.split(",")]
    except ValueError:
        raise BadValue("alphas", text, "write start:stop:step (e.g. -0.5:1.5:0.25) or a list (e.g. 0,0.3,1.2)") from None
    if not values or not all(np.isfinite(values)) or len(values) > 128:
        raise BadValue("alphas", text, "give 1 to 128 finite numbers")
    return values


def parse_curve(text: str) -> list[tuple[float, float]]:
    """``"0:0,0.5:1,1:0.2"`` → breakpoints (time as a fraction of the sample 0…1, α)."""
    try:
        points = [tuple(float(v) for v in pair.split(":")) for pair in text.split(",")]
        if any(len(p) != 2 for p in points):
            raise ValueError
    except ValueError:
        raise BadValue("curve", text, "write time:α breakpoints, e.g. 0:0,1:1") from None
    times = [t for t, _ in points]
    if times[0] != 0 or times[-1] != 1 or any(b <= a for a, b in zip(times, times[1:])):
        raise BadValue("curve", text, "times must rise from 0 to 1, e.g. 0:0,0.5:1,1:0")
    if not all(np.isfinite([a for _, a in points])):
        raise BadValue("curve", text, "α values must be finite")
    return [(t, a) for t, a in points]


def parse_weights(text: str, n_sources: int) -> list[list[float]]:
    """``"1,0,0;0.5,0.5,0"`` → one weight vector per sample, each of ``n_sources`` summing to 1."""
    try:
        vectors = [[float(v) for v in part.split(",")] for part in text.split(";")]
    except ValueError:
        raise BadValue("weights", text, "write one vector per sample, e.g. 1,0,0;0.5,0.25,0.25") from None
    for vector in vectors:
        if len(vector) != n_sources or abs(sum(vector) - 1) > 1e-6:
            raise BadValue("weights", text, f"each vector needs {n_sources} numbers (one per source) summing to 1, not {vector}")
    return vectors


def curve_at(points: list[tuple[float, float]], n_frames: int) -> np.ndarray:
    """α of each frame, linear between breakpoints: shape (n_frames,)."""
    t = np.linspace(0.0, 1.0, n_frames) if n_frames > 1 else np.zeros(1)
    times, alphas = zip(*points)
    return np.interp(t, times, alphas)


def resample_trajectory(z: np.ndarray, n_frames: int) -> np.ndarray:
    """Stretch or squeeze a latent trajectory [frames, d] to [n_frames, d] in time (linear)."""
    if len(z) == n_frames:
        return z
    source_t = np.linspace(0.0, 1.0, len(z)) if len(z) > 1 else np.zeros(1)
    target_t = np.linspace(0.0, 1.0, n_frames)
    index = np.interp(target_t, source_t, np.arange(len(z), dtype=np.float64))
    low = np.floor(index).astype(int)
    high = np.minimum(low + 1, len(z) - 1)
    frac = (index - low)[:, None]
    return ((1 - frac) * z[low] + frac * z[high]).astype(np.float32)


def mix(trajectories: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Σ_i w_i(t)·z_i(t).

    trajectories : S arrays [n_frames, d] (equal lengths)
    weights : [S] constant, or [n_frames, S] per frame
    """
    stacked = np.stack(trajectories)  # [S, n, d]
    w = np.asarray(weights, dtype=np.float32)
    w = np.broadcast_to(w, (stacked.shape[1], len(trajectories))).T[:, :, None]  # [S, n, 1]
    return np.sum(w * stacked, axis=0, dtype=np.float32)


def two_source_weights(alpha: np.ndarray | float) -> np.ndarray:
    """α (scalar or per frame) → weights (1 − α, α), shape [2] or [n, 2]."""
    alpha = np.asarray(alpha, dtype=np.float32)
    return np.stack([1 - alpha, alpha], axis=-1)


def sample_latent(mu: np.ndarray, logvar: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """z ~ N(μ, σ²), one draw per frame and dimension."""
    noise = rng.standard_normal(mu.shape).astype(np.float32)
    return (mu + np.exp(0.5 * logvar) * noise).astype(np.float32)
