"""The fast phase engine: the same transform as librosa, and reconstruction that converges."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from lts_sampler.metrics import spectral_convergence
from lts_sampler.phase import plan_for, reconstruct
from lts_sampler.spec import AudioSpec

SPEC = AudioSpec()
LIBROSA = dict(sr=44100, hop_length=128, fmin=32.703, bins_per_octave=48)


@pytest.fixture(scope="module")
def tone() -> np.ndarray:
    """1 s of a decaying harmonic tone at 220 Hz with a little noise."""
    t = np.arange(44100) / 44100
    y = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 8)) * np.exp(-2 * t)
    return (0.3 * y + 0.01 * np.random.default_rng(0).standard_normal(len(t))).astype(np.float32)


def test_the_plan_is_librosas_constant_q_transform(tone):
    plan = plan_for(SPEC)
    assert plan_for(SPEC) is plan
    ours, theirs = plan.forward(tone), librosa.cqt(tone, n_bins=384, **LIBROSA)
    assert ours.shape == theirs.shape == (384, 345)
    assert np.max(np.abs(ours - theirs)) <= 1e-5 * np.max(np.abs(theirs))
    back, librosa_back = plan.inverse(theirs, len(tone)), librosa.icqt(theirs, length=len(tone), **LIBROSA)
    assert np.max(np.abs(back - librosa_back)) <= 1e-5 * np.max(np.abs(librosa_back))


def _consistency(y: np.ndarray, magnitude: np.ndarray) -> float:
    rebuilt = np.abs(plan_for(SPEC).forward(y)).T
    n = min(len(rebuilt), len(magnitude))
    return spectral_convergence(rebuilt[:n], magnitude[:n])


def test_the_true_phase_gives_back_the_sound(tone):
    plan = plan_for(SPEC)
    c = plan.forward(tone).T
    y = reconstruct(np.abs(c), SPEC, n_iter=0, length=len(tone), init_phase=np.angle(c))
    assert np.corrcoef(y, tone)[0, 1] > 0.98
    # The constant-Q transform is not exactly invertible (librosa's own round trip is no closer).
    assert _consistency(y, np.abs(c)) == pytest.approx(_consistency(plan.inverse(c.T, len(tone)), np.abs(c)), abs=1e-3)


def test_iterations_make_a_random_phase_consistent_and_repeatable(tone):
    magnitude = np.abs(plan_for(SPEC).forward(tone)).T
    start = _consistency(reconstruct(magnitude, SPEC, n_iter=0, length=len(tone), seed=1), magnitude)
    after = reconstruct(magnitude, SPEC, n_iter=12, length=len(tone), seed=1)
    assert _consistency(after, magnitude) < 0.6 * start
    assert np.array_equal(after, reconstruct(magnitude, SPEC, n_iter=12, length=len(tone), seed=1))
