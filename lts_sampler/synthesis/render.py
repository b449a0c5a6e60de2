"""Render a bank: sources → latent trajectories → mixes → magnitudes → audio.

Arrays are float32; audio is mono at the model's sample rate.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
from collections.abc import Callable, Iterator

import numpy as np

from lts_sampler.core.banks import Layer, RenderSettings, Source
from lts_sampler.core.errors import BadValue, LtsError
from lts_sampler.core.mixing import mix, resample_trajectory, sample_latent
from lts_sampler.core.spec import PEAK_DBFS
from lts_sampler.synthesis.audio import load_audio
from lts_sampler.synthesis.loops import Loop, loop_bank
from lts_sampler.synthesis.model import ModelBundle
from lts_sampler.synthesis.phase import plan_for, reconstruct

MIN_FRAMES = 8
"""A source shorter than this many hops (23 ms at 44.1 kHz, hop 128) is refused."""
MAX_SOURCE_S = 60.0
"""A longer excerpt is refused before it is read. Two 60 s sources, 3 samples, draft quality on
2 cores: 1.9 GB peak memory, 10 s; memory grows with the length and the cores in use."""
SILENT_DBFS = -80.0
"""A source whose excerpt peaks below this is refused: there is no timbre in it to morph."""
FADE_IN_S = 0.002
FADE_OUT_S = 0.010
SILENCE_DB = -60.0
GPU_BATCH = 32
"""Samples reconstructed at once on a GPU (each batch holds a few arrays of [32, n_bins, frames])."""


@dataclasses.dataclass
class EncodedSource:
    """A source's latent trajectory: ``mu`` and ``logvar`` [frames, latent_dim]; ``samples``
    is the excerpt's length in samples at the model's rate; ``phase`` starts reconstruction."""

    source: Source
    mu: np.ndarray
    logvar: np.ndarray
    samples: int
    phase: np.ndarray  # [frames, n_bins] radians, the excerpt's own constant-Q phase


@dataclasses.dataclass
class RenderedSample:
    layer: Layer
    round_robin: int  # 1-based; 1 decodes μ, the others sample z ~ N(μ, σ²)
    audio: np.ndarray  # [n] float32
    loop: Loop | None = None  # its bank's sustain loop, when the settings ask for loops and there is room


def encode_sources(bundle: ModelBundle, sources: list[Source]) -> list[EncodedSource]:
    """Read, analyse and encode each source; LtsError for audio that is too short, too long
    (over ``MAX_SOURCE_S``) or silent (peak under ``SILENT_DBFS``)."""
    spec = bundle.spec
    encoded = []
    for source in sources:
        y = load_audio(source.path, sample_rate=spec.sample_rate, offset=source.offset, duration=source.duration,
                       max_seconds=MAX_SOURCE_S)
        if len(y) and np.max(np.abs(y)) < 10 ** (SILENT_DBFS / 20):
            where = f" from {source.offset:g} s" if source.offset else ""
            raise BadValue("offset", None, f"source {source.path} is silent{where} (peak below {SILENT_DBFS:g} "
                           "dBFS); choose a file, or an offset, with sound in it")
        if len(y) < MIN_FRAMES * spec.hop_length:
            raise LtsError(
                f"{source.path} gives only {len(y) / spec.sample_rate * 1000:.0f} ms of audio; "
                f"a source needs at least {MIN_FRAMES * spec.hop_length / spec.sample_rate * 1000:.0f} ms"
            )
        transform = plan_for(spec, len(y)).forward(y).T
        mu, logvar = bundle.encode(np.abs(transform))
        encoded.append(EncodedSource(source, mu, logvar, len(y), np.angle(transform).astype(np.float32)))
    return encoded


def mixed_latents(encoded: list[EncodedSource], layer: Layer, *, round_robin: int = 1, seed: int = 0, index: int = 0) -> np.ndarray:
    """The latent trajectory [n_frames, latent_dim] of one mix: every trajectory brought to
    the longest source's frame count, then mixed. Round robins above 1 sample each source's z."""
    n_frames = max(len(e.mu) for e in encoded)
    trajectories = []
    for number, e in enumerate(encoded):
        z = e.mu
        if round_robin > 1:
            z = sample_latent(e.mu, e.logvar, np.random.default_rng([seed, index, round_robin, number]))
        trajectories.append(resample_trajectory(z, n_frames))
    return mix(trajectories, layer.weights_at(n_frames))


def initial_phase(encoded: list[EncodedSource], layer: Layer, n_frames: int) -> np.ndarray:
    """The phase of the source that weighs most in the mix, stretched to ``n_frames``
    (nearest frame): [n_frames, n_bins] radians."""
    weights = np.asarray(layer.weights_at(n_frames))
    dominant = encoded[int(np.argmax(weights.mean(axis=0) if weights.ndim == 2 else weights))].phase
    index = np.round(np.linspace(0, len(dominant) - 1, n_frames)).astype(int)
    return dominant[index]


def finish(y: np.ndarray, sample_rate: int, *, normalize: bool = True, trim: bool = False) -> np.ndarray:
    """Post-process one sample: DC removal, trailing-silence trim (optional), short fades
    against clicks, peak normalisation to −1 dBFS (optional; without it a peak above −1 dBFS
    is still brought down to it: a sample never clips). [n] → [m ≤ n] float32."""
    y = y - np.mean(y)
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if trim and peak > 0:
        loud = np.flatnonzero(np.abs(y) > peak * 10 ** (SILENCE_DB / 20))
        y = y[: min(len(y), loud[-1] + 1 + int(FADE_OUT_S * sample_rate))]
    n_in, n_out = min(len(y), int(FADE_IN_S * sample_rate)), min(len(y), int(FADE_OUT_S * sample_rate))
    y = y.copy()
    y[:n_in] *= np.linspace(0.0, 1.0, n_in, endpoint=False)
    y[len(y) - n_out :] *= np.linspace(1.0, 0.0, n_out)
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    ceiling = 10 ** (PEAK_DBFS / 20)
    if peak > 0 and (normalize or peak > ceiling):
        y *= ceiling / peak
    return y.astype(np.float32)


def render_banks(
    bundle: ModelBundle,
    banks: list[list[Source]],
    layers: list[Layer],
    settings: RenderSettings,
    *,
    backend: str = "cpu",
    progress: Callable[[int, int, str], None] | None = None,
    sample_progress: Callable[[int, float], None] | None = None,
) -> list[RenderedSample]:
    """Render every layer × round robin of every bank (the sources one pitch mixes; one bank
    for a kit of one pitch), bank by bank in the result; ``progress(done, total, label)``
    after each sample, in order; ``sample_progress(index, fraction)`` as each sample's phase
    reconstruction goes on (any thread, samples in any order). An exception either raises
    stops the render.

    With ``settings.loop`` each bank's samples get the loop they share (before the finishing
    touches of :func:`finish`, which keep it in place), where there is room for one.

    On the CPU the sources are encoded and the samples made in parallel, one per core, every
    bank in one run; with ``backend`` "cuda" (see :func:`lts_sampler.synthesis.phase.resolve_backend`)
    phase reconstruction runs on the GPU, ``GPU_BATCH`` samples of a bank at once.
    """
    for sources in banks:
        if len(sources) < 2:
            raise LtsError("give at least two sources to mix")
        for layer in layers:
            if layer.weights is not None and len(layer.weights) != len(sources):
                raise LtsError(f"weights {list(layer.weights)} need one value per source ({len(sources)})")
            if layer.weights is None and len(sources) != 2:
                raise LtsError(f"α values mix exactly two sources, got {len(sources)}; use weight vectors for more")
    distinct = list(dict.fromkeys(s for sources in banks for s in sources))
    encoded = dict(zip(distinct, _in_parallel(lambda source: encode_sources(bundle, [source])[0], distinct)))
    keys = sample_keys(layers, settings)
    jobs = [([encoded[s] for s in sources], i, rr) for sources in banks for i, rr in keys]

    def render_batch(indices: range) -> np.ndarray:
        """Audio [len(indices), length] of the jobs at ``indices`` (one bank)."""
        report = None
        if sample_progress is not None:
            def report(fraction: float) -> None:
                for j in indices:
                    sample_progress(j, fraction)
        return reconstruct_samples(bundle, jobs[indices[0]][0], layers, settings, [jobs[j][1:] for j in indices],
                                   backend=backend, report=report)

    size = GPU_BATCH if backend == "cuda" else 1
    per_bank = len(keys)
    batches = [range(i, min(i + size, start + per_bank))
               for start in range(0, len(jobs), per_bank) for i in range(start, start + per_bank, size)]
    made = map(render_batch, batches) if backend == "cuda" else _in_parallel(render_batch, batches)
    return finish_banks((y for batch in made for y in batch), len(banks), layers, settings, bundle.spec.sample_rate,
                        progress=progress)


def sample_keys(layers: list[Layer], settings: RenderSettings) -> list[tuple[int, int]]:
    """(layer index, round robin) of every sample of a bank, in kit order."""
    return [(i, rr) for i in range(len(layers)) for rr in range(1, settings.round_robins + 1)]


def reconstruct_samples(bundle: ModelBundle, mixed: list[EncodedSource], layers: list[Layer], settings: RenderSettings,
                        keys: list[tuple[int, int]], *, backend: str = "cpu",
                        report: Callable[[float], None] | None = None) -> np.ndarray:
    """Audio [len(keys), length] of the samples ``keys`` (:func:`sample_keys`) of one bank,
    its sources ``mixed``: one decode, one reconstruction, not yet finished; ``report(fraction)``
    as the reconstruction goes on."""
    latents = [mixed_latents(mixed, layers[i], round_robin=rr, seed=settings.seed, index=i) for i, rr in keys]
    magnitudes = np.split(bundle.decode(np.concatenate(latents)), len(keys))
    phases = [initial_phase(mixed, layers[i], len(m)) for (i, _), m in zip(keys, magnitudes)]
    on_iteration = None if report is None else lambda n: report((n - 1) / settings.n_iter)
    y = reconstruct(np.stack(magnitudes), bundle.spec, n_iter=settings.n_iter, length=max(e.samples for e in mixed),
                    init_phase=np.stack(phases), backend=backend, on_iteration=on_iteration)
    if report is not None:
        report(1.0)
    return y


def finish_banks(audio: Iterator[np.ndarray], n_banks: int, layers: list[Layer], settings: RenderSettings,
                 sample_rate: int, *, progress: Callable[[int, int, str], None] | None = None) -> list[RenderedSample]:
    """Every bank's reconstructed samples (``audio``, in kit order: bank, layer, round robin)
    made into the kit's: each bank's loop where the settings ask for loops, then :func:`finish`;
    ``progress(done, total, label)`` as each arrives."""
    keys = sample_keys(layers, settings)
    total = n_banks * len(keys)
    rendered = []
    for done, ((i, rr), y) in enumerate(zip(keys * n_banks, audio), start=1):
        rendered.append(RenderedSample(layers[i], rr, y))
        if settings.loop and done % len(keys) == 0:
            bank = rendered[-len(keys):]
            loop, looped = loop_bank([sample.audio for sample in bank], sample_rate)
            for sample, y in zip(bank, looped):
                sample.audio, sample.loop = y, loop
        if progress is not None:
            progress(done, total, layers[i].label + (f" rr{rr}" if settings.round_robins > 1 else ""))
    for sample in rendered:
        sample.audio = finish(sample.audio, sample_rate, normalize=settings.normalize,
                              trim=settings.trim and sample.loop is None)
    return rendered


def _in_parallel(fn: Callable, items: list) -> Iterator:
    """``fn`` over ``items`` on a thread per core (the heavy parts release the GIL), results
    in order; work not started yet is dropped when the caller stops early."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
    try:
        for future in [pool.submit(fn, item) for item in items]:
            yield future.result()
    finally:
        pool.shutdown(cancel_futures=True)
