"""A kit rendered in parts on any executor (``concurrent.futures``: local processes, or a Dask
cluster's executor): each part is one sample of one bank, so the work spreads over every worker
even for one kit. Workers load the model once and encode each source once (cached per worker
process); sources are read from their paths, which every worker must see. The caller gathers
the parts in kit order, finishes the banks (loops, levels) and writes the kit, whole, as
``render`` does: the samples are byte for byte a local render's. Submitting the next kits
before gathering one keeps the workers busy while the caller finishes and writes.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path

import numpy as np

from lts_sampler.core.banks import Layer, RenderSettings, Source
from lts_sampler.kits.make import check_writable, kit_manifest, write_kit
from lts_sampler.kits.plan import Plan
from lts_sampler.synthesis.model import ModelBundle
from lts_sampler.synthesis.render import EncodedSource, encode_sources, finish_banks, reconstruct_samples, sample_keys

GLIBC_MMAP_THRESHOLD, GLIBC_TRIM_THRESHOLD = -3, -1
"""``mallopt`` parameters (glibc's malloc.h)."""
WORKER_MMAP_BYTES = 32 << 20
"""The largest mmap threshold glibc's adaptive one reaches on 64-bit machines."""

SOURCES_KEPT = 128
"""Encoded sources a worker keeps (each about 1.2 MB a second of audio: latents and phase): a plan's
kits arrive in order, so a kit's sources are reused while it renders, then seldom again."""


def render_part(model: str, sources: tuple[Source, ...], layers: tuple[Layer, ...], settings: RenderSettings,
                key: tuple[int, int]) -> np.ndarray:
    """On a worker: sample ``key`` (layer index, round robin) of the bank mixing ``sources``,
    reconstructed, not finished: [n] float32."""
    mixed = [_encoded(model, source) for source in sources]
    return reconstruct_samples(_bundle(model), mixed, list(layers), settings, [key])[0]


@functools.cache
def _bundle(model: str) -> ModelBundle:
    """The model at ``model``, loaded once a worker process."""
    _allocate_as_glibc_does()
    return ModelBundle.load(Path(model), device="cpu")


@functools.lru_cache(maxsize=SOURCES_KEPT)
def _encoded(model: str, source: Source) -> EncodedSource:
    return encode_sources(_bundle(model), [source])[0]


def _allocate_as_glibc_does() -> None:
    """Where a Dask nanny started this worker process with ``MALLOC_TRIM_THRESHOLD_`` set, which
    turns glibc's adaptive mmap threshold off (every array above 128 KiB is then mapped and
    unmapped afresh, and a sample takes twice as long): the thresholds the adaptive one reaches."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(GLIBC_MMAP_THRESHOLD, WORKER_MMAP_BYTES)
        libc.mallopt(GLIBC_TRIM_THRESHOLD, 2 * WORKER_MMAP_BYTES)
    except (OSError, AttributeError):  # not glibc, whose variable this is
        pass


def ignore_interrupts() -> None:
    """A local worker process's initializer: Ctrl-C, which a terminal sends to every process
    of the command, is the client's to handle (it cancels the parts not begun and writes
    nothing); the worker then ends with the pool, without a traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def submit_kit(executor: Executor, job: Plan) -> list[Future]:
    """Every sample of ``job`` a part on ``executor``, in kit order (bank, layer, round robin)."""
    model, layers = str(Path(job.model).resolve()), tuple(job.layers)
    return [executor.submit(render_part, model, bank.sources, layers, job.settings, key)
            for bank in job.banks for key in sample_keys(job.layers, job.settings)]


def finish_kit(bundle: ModelBundle, job: Plan, parts: list[Future],
               progress: Callable[[int, int, str], None] | None = None) -> dict:
    """:func:`lts_sampler.kits.make.make_kit`'s work once its samples come back as ``parts``
    (:func:`submit_kit`): gathered in order, finished, the kit written; returns kit.json. A
    part that fails raises here, the kit's parts not yet done are cancelled, and nothing is
    written."""
    try:
        manifest = kit_manifest(bundle, job.banks, job.layers, job.settings, job.out, mode=job.mode, grid=job.grid)
        check_writable(job.out)
        # A copy of each part: an array from a network buffer (Dask) arrives unaligned, and NumPy's
        # sums (the DC removal's mean) may then round differently from a local render's.
        audio = (np.array(part.result(), dtype=np.float32) for part in parts)
        rendered = finish_banks(audio, len(job.banks), job.layers, job.settings, bundle.spec.sample_rate,
                                progress=progress)
    except Exception:  # the kit failed; the batch goes on (Ctrl-C is the executor's to cancel, all at once)
        for part in parts:
            part.cancel()
        raise
    write_kit(job.out, manifest, rendered, job.layers, job.banks, job.grid)
    return manifest
