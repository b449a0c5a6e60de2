"""Reconstruction quality of a model bundle on audio files (DESIGN §7).

Three figures per file, each as spectral convergence (SC) and log-spectral distance (LSD, dB)
against the constant-Q magnitude S of the original:

- ``ideal``: Griffin–Lim on S itself, no model — the floor phase reconstruction allows;
- ``model_prephase``: Ŝ = decode(encode(S)) compared with S directly;
- ``model``: Griffin–Lim on Ŝ, then the magnitude of that audio compared with S.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from lts_sampler.core.digest import sha256_file
from lts_sampler.core.errors import LtsError
from lts_sampler.core.spec import AudioSpec
from lts_sampler.synthesis.audio import load_audio
from lts_sampler.synthesis.metrics import log_spectral_distance, spectral_convergence
from lts_sampler.synthesis.model import ModelBundle
from lts_sampler.synthesis.spectral import cqt_magnitude, griffinlim

ROWS = (("ideal", "ideal"), ("model_prephase", "model pre-phase"), ("model", "model"))


def evaluate_bundle(
    bundle: ModelBundle,
    files: Iterable[str | Path],
    *,
    seconds: float = 4.0,
    min_seconds: float = 1.0,
    n_iter: int = 32,
    seed: int = 0,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict:
    """Measure reconstruction on the first ``seconds`` of each file at least ``min_seconds`` long.

    Parameters
    ----------
    bundle : the model to measure
    files : audio files (any format :func:`load_audio` reads)
    seconds : length of the excerpt read from each file's start, s
    min_seconds : files shorter than this are skipped (and listed as skipped), s
    n_iter, seed : Griffin–Lim iterations and seed of its random initial phase
    progress : called as ``progress(done, total, filename)`` after each file

    Returns
    -------
    result : dict, JSON-able
        ``{"model", "settings", "files": [{"file", "frames", "ideal", "model_prephase",
        "model"}], "mean": {"ideal", "model_prephase", "model"}}``; every figure is
        ``{"sc": float, "lsd_db": float}``; ``settings`` holds the options and the names in
        ``files_evaluated`` and ``files_skipped``.

    Raises
    ------
    LtsError
        Bad settings, an unreadable file, or no file long enough.
    """
    if not 0 < min_seconds <= seconds or n_iter < 1:
        raise LtsError(f"need 0 < min_seconds ≤ seconds and n_iter ≥ 1 (got {min_seconds:g}, {seconds:g}, {n_iter})")
    files = [Path(f) for f in files]
    rows, skipped = [], []
    for done, path in enumerate(files, start=1):
        y = load_audio(path, sample_rate=bundle.spec.sample_rate, duration=seconds)
        if len(y) < round(min_seconds * bundle.spec.sample_rate):
            skipped.append(path.name)
        else:
            rows.append({"file": path.name, **_file_figures(bundle, y, n_iter=n_iter, seed=seed)})
        if progress is not None:
            progress(done, len(files), path.name)
    if not rows:
        raise LtsError(f"none of the {len(files)} files lasts at least {min_seconds:g} s; pass longer audio files")
    settings = {"seconds": seconds, "min_seconds": min_seconds, "n_iter": n_iter, "seed": seed}
    return {
        "model": bundle.name,
        "settings": {**settings, "files_evaluated": [row["file"] for row in rows], "files_skipped": skipped},
        "files": rows,
        "mean": {key: _mean([row[key] for row in rows]) for key, _ in ROWS},
    }


def _file_figures(bundle: ModelBundle, y: np.ndarray, *, n_iter: int, seed: int) -> dict:
    """The three figures of one excerpt ``y`` [shape=(n,)] at the bundle's rate."""
    spec = bundle.spec
    s = cqt_magnitude(y, spec)
    mu, _ = bundle.encode(s)
    s_hat = bundle.decode(mu)
    return {
        "frames": int(s.shape[0]),
        "ideal": _after_phase(s, s, spec, n_iter=n_iter, seed=seed, length=len(y)),
        "model_prephase": _figures(s_hat, s),
        "model": _after_phase(s_hat, s, spec, n_iter=n_iter, seed=seed, length=len(y)),
    }


def _after_phase(magnitude, target, spec: AudioSpec, *, n_iter: int, seed: int, length: int) -> dict:
    """Griffin–Lim on ``magnitude``, then the figures of the result's magnitude vs ``target``."""
    y = griffinlim(magnitude, spec, n_iter=n_iter, seed=seed, length=length)
    rebuilt = cqt_magnitude(y, spec)
    n = min(len(rebuilt), len(target))
    return _figures(rebuilt[:n], target[:n])


def _figures(estimate: np.ndarray, target: np.ndarray) -> dict:
    return {"sc": spectral_convergence(estimate, target), "lsd_db": log_spectral_distance(estimate, target)}


def _mean(figures: list[dict]) -> dict:
    return {key: float(np.mean([f[key] for f in figures])) for key in ("sc", "lsd_db")}


def format_table(result: dict) -> str:
    """A one-screen text table of :func:`evaluate_bundle`'s means: rows ideal / model pre-phase / model."""
    settings = result["settings"]
    lines = [
        f"{result['model']}: {_count(len(settings['files_evaluated']), 'file')}, first {settings['seconds']:g} s, "
        f"Griffin–Lim {settings['n_iter']} iterations (seed {settings['seed']})",
        f"{'':<18}{'SC':>8}{'LSD dB':>9}",
    ]
    for key, label in ROWS:
        mean = result["mean"][key]
        lines.append(f"{label:<18}{mean['sc']:>8.3f}{mean['lsd_db']:>9.2f}")
    if settings["files_skipped"]:
        lines.append(f"skipped {_count(len(settings['files_skipped']), 'file')} shorter than {settings['min_seconds']:g} s")
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def heldout_files(bundle: ModelBundle, data_dir: str | Path) -> list[Path]:
    """The files under ``data_dir`` that the model held out of training.

    Names come from ``bundle.info["training"]["heldout_files"]``: a list of names or of
    ``{"name", "sha256"}`` tables; a file is matched by name anywhere under ``data_dir`` and,
    where a hash is recorded, must match it.

    Returns
    -------
    paths : sorted by name

    Raises
    ------
    LtsError
        The bundle records no held-out files, none is found, or a found file's hash differs.
    """
    entries = bundle.info.get("training", {}).get("heldout_files") or []
    wanted = {
        Path(e["name"] if isinstance(e, dict) else e).name: e.get("sha256") if isinstance(e, dict) else None
        for e in entries
    }
    if not wanted:
        raise LtsError(f"model {bundle.name} records no held-out files; pass the files to evaluate instead")
    found = sorted((p for p in Path(data_dir).rglob("*") if p.name in wanted and p.is_file()), key=lambda p: p.name)
    for path in found:
        expected = wanted[path.name]
        if expected is not None and sha256_file(path) != expected.lower():
            raise LtsError(f"{path} differs from the held-out file {bundle.name} recorded (sha256); use the original data")
    if not found:
        raise LtsError(
            f"none of model {bundle.name}'s {len(wanted)} held-out files is under {data_dir}; pass the training data folder"
        )
    return found
