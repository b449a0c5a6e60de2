"""Fast phase reconstruction for constant-Q magnitudes.

``librosa.cqt``/``icqt`` rebuild their filter bases on every call, which is nearly all of
their cost at our spec. :class:`CQTPlan` builds the bases once per audio spec and applies
the same multirate transform (octave by octave, halving the rate each time), so every
Griffin–Lim iteration costs only the STFTs, the basis products and the resampling.
:func:`reconstruct` runs fast Griffin–Lim (momentum 0.99, as librosa) with that plan, from a
given initial phase (a source's own phase is far better than a random one) or a seeded
random phase, keeping the most consistent iterate and stopping early when iterations stop
helping.
"""

from __future__ import annotations

import dataclasses
import functools

import librosa
import numpy as np
import scipy.sparse

from lts_sampler.spec import AudioSpec
from lts_sampler.spectral import quiet_short_input

SPARSITY = 0.01
RES_TYPE = "soxr_hq"
QUALITY_ITERATIONS = {"draft": 4, "normal": 16, "high": 48}
"""Griffin–Lim iterations of each ``--quality`` preset."""


@dataclasses.dataclass(frozen=True)
class _Octave:
    """One octave of the transform: its rate, hop and FFT size, the analysis basis
    [n_filters, n_fft // 2 + 1] and the synthesis basis [n_fft // 2 + 1, n_filters], both sparse."""

    bins: slice
    sample_rate: float
    hop: int
    n_fft: int
    analysis: scipy.sparse.csr_matrix
    synthesis: scipy.sparse.csr_matrix


def _relative_bandwidth(freqs: np.ndarray) -> np.ndarray:
    """Bandwidth of each bin relative to its frequency, from the local bins per octave."""
    logf = np.log2(freqs)
    bpo = np.empty_like(freqs)
    bpo[0], bpo[-1] = 1 / (logf[1] - logf[0]), 1 / (logf[-1] - logf[-2])
    bpo[1:-1] = 2 / (logf[2:] - logf[:-2])
    return (2.0 ** (2 / bpo) - 1) / (2.0 ** (2 / bpo) + 1)


def _fft_basis(sample_rate: float, freqs: np.ndarray, alpha: np.ndarray) -> tuple[scipy.sparse.csr_matrix, int, np.ndarray]:
    """Hann-windowed wavelets at ``freqs``, L1-normalised, in the frequency domain (sparse)."""
    basis, lengths = librosa.filters.wavelet(
        freqs=freqs, sr=sample_rate, filter_scale=1, norm=1, pad_fft=True, window="hann", gamma=0.0, alpha=alpha
    )
    n_fft = basis.shape[1]
    basis = basis * (lengths[:, None] / float(n_fft))
    fft_basis = np.fft.fft(basis, n=n_fft, axis=1)[:, : n_fft // 2 + 1]
    return librosa.util.sparsify_rows(fft_basis, quantile=SPARSITY, dtype=np.complex64), n_fft, lengths


class CQTPlan:
    """The constant-Q transform of an audio spec and its inverse, with bases built once.

    Matches ``librosa.cqt``/``librosa.icqt`` (scale=True, tuning 0, Hann windows) to float32
    precision. Build it with :func:`plan_for`, which keeps one per spec.
    """

    def __init__(self, spec: AudioSpec):
        self.spec = spec
        sr, bpo = spec.sample_rate, spec.bins_per_octave
        self.freqs = spec.fmin_hz * 2.0 ** (np.arange(spec.n_bins) / bpo)
        alpha = _relative_bandwidth(self.freqs)
        self.lengths, _ = librosa.filters.wavelet_lengths(
            freqs=self.freqs, sr=sr, window="hann", filter_scale=1, gamma=0.0, alpha=alpha
        )
        n_octaves = int(np.ceil(spec.n_bins / bpo))
        if spec.hop_length % 2 ** (n_octaves - 1):
            raise ValueError(f"hop {spec.hop_length} must be divisible by 2^{n_octaves - 1} for {n_octaves} octaves")
        self.octaves = []  # from the top octave down, as the forward transform runs
        for i in range(n_octaves):
            top = spec.n_bins - i * bpo
            bins = slice(max(0, top - bpo), top)
            rate, hop = sr / 2**i, spec.hop_length // 2**i
            analysis, n_fft, _ = _fft_basis(rate, self.freqs[bins], alpha[bins])
            power = 1.0 / np.asarray(abs(analysis).power(2).sum(axis=1)).ravel() * (n_fft / self.lengths[bins])
            synthesis = analysis.conj().T.multiply((np.sqrt(self.lengths[bins]) * power)[None, :])
            self.octaves.append(_Octave(
                bins, rate, hop, n_fft, (analysis * np.sqrt(sr / rate)).tocsr(), synthesis.tocsr().astype(np.complex64)
            ))

    def forward(self, y: np.ndarray) -> np.ndarray:
        """Complex CQT of ``y`` [n] → [n_bins, frames] (as ``librosa.cqt``)."""
        responses = []
        for octave in self.octaves:
            with quiet_short_input():
                stft = librosa.stft(y, n_fft=octave.n_fft, hop_length=octave.hop, window="ones", pad_mode="constant")
            responses.append(octave.analysis @ stft)
            if octave is not self.octaves[-1]:
                y = librosa.resample(y, orig_sr=2, target_sr=1, res_type=RES_TYPE, scale=True)
        frames = min(r.shape[1] for r in responses)
        out = np.empty((self.spec.n_bins, frames), dtype=np.complex64)
        for octave, response in zip(self.octaves, responses):
            out[octave.bins] = response[-(octave.bins.stop - octave.bins.start):, :frames]
        return out / np.sqrt(self.lengths)[:, None]

    def inverse(self, c: np.ndarray, length: int) -> np.ndarray:
        """Audio [length] from a complex CQT [n_bins, frames] (as ``librosa.icqt``)."""
        hop, sr = self.spec.hop_length, self.spec.sample_rate
        c = c[:, : int(np.ceil((length + max(self.lengths)) / hop))]
        y = None
        for octave in reversed(self.octaves):
            spectrum = octave.synthesis @ c[octave.bins]
            part = librosa.istft(spectrum, window="ones", hop_length=octave.hop, dtype=np.float32)
            factor = int(round(sr / octave.sample_rate))
            if factor > 1:
                part = librosa.resample(part, orig_sr=1, target_sr=factor, res_type=RES_TYPE, scale=False, fix=False)
            if y is None:
                y = part
            else:
                y[: len(part)] += part[: len(y)]
        return librosa.util.fix_length(y, size=length).astype(np.float32)


@functools.lru_cache(maxsize=4)
def plan_for(spec: AudioSpec) -> CQTPlan:
    """The plan of ``spec``, built on first use and kept."""
    return CQTPlan(spec)


def reconstruct(
    magnitude: np.ndarray,
    spec: AudioSpec,
    *,
    n_iter: int = QUALITY_ITERATIONS["normal"],
    length: int,
    init_phase: np.ndarray | None = None,
    seed: int = 0,
    momentum: float = 0.99,
    patience: int | None = None,
) -> np.ndarray:
    """Audio whose constant-Q magnitude approximates ``magnitude`` (fast Griffin–Lim).

    Parameters
    ----------
    magnitude : [frames, n_bins], linear
    length : samples of output
    init_phase : [frames, n_bins] radians to start from; None: seeded random phase
    n_iter : most iterations; momentum : of the fast Griffin–Lim update
    patience : stop after this many iterations without a more consistent result
        (default: a quarter of ``n_iter``, at least 3)

    Returns
    -------
    y : [length] float32
    """
    plan = plan_for(spec)
    target = np.ascontiguousarray(magnitude.T, dtype=np.float32)
    if init_phase is None:
        init_phase = np.random.default_rng(seed).uniform(-np.pi, np.pi, magnitude.shape)
    angles = np.exp(1j * init_phase.T).astype(np.complex64)
    rebuilt = np.zeros_like(angles)
    patience = max(3, n_iter // 4) if patience is None else patience
    best, best_error, since_best = angles, np.inf, 0
    norm = max(float(np.linalg.norm(target)), 1e-12)
    for _ in range(n_iter):
        previous = rebuilt
        rebuilt = _fit(plan.forward(plan.inverse(target * angles, length)), target.shape[1])
        # How far the audio of these angles is from the target: keep the most consistent,
        # and stop once a few iterations in a row bring nothing.
        error = float(np.linalg.norm(np.abs(rebuilt) - target)) / norm
        if error < best_error:
            best, best_error, since_best = angles, error, 0
        else:
            since_best += 1
            if since_best >= patience:
                break
        angles = rebuilt - (momentum / (1 + momentum)) * previous
        angles /= np.abs(angles) + 1e-16
    return plan.inverse(target * best, length)


def _fit(c: np.ndarray, frames: int) -> np.ndarray:
    """Pad or trim a CQT [bins, f] to ``frames`` columns."""
    if c.shape[1] >= frames:
        return c[:, :frames]
    return np.pad(c, ((0, 0), (0, frames - c.shape[1])))
