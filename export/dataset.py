"""A folder of audio → constant-Q magnitude frames, cached per file, split by file.

Features are cached as ``<cache>/<content sha256>-<spec key>.npy`` (frames × n_bins,
float32), so a re-run only analyses new or changed files. No torch here.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import random
from pathlib import Path

import numpy as np
from rich.progress import Progress

from lts_sampler.core.digest import sha256_file
from lts_sampler.core.errors import LtsError
from lts_sampler.core.spec import AudioSpec
from lts_sampler.synthesis.audio import find_audio_files, load_audio
from lts_sampler.synthesis.spectral import cqt_magnitude


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lts-sampler" / "cqt"


@dataclasses.dataclass(frozen=True)
class AudioItem:
    """One analysed file.

    ``name`` is the path relative to the data folder (POSIX form); ``frames`` is the
    number of CQT frames; the magnitudes themselves stay in the cache until ``load``.
    """

    name: str
    path: Path
    sha256: str
    seconds: float
    frames: int
    cache_path: Path

    def load(self) -> np.ndarray:
        """Magnitude frames, shape (frames, n_bins), float32, linear."""
        return np.load(self.cache_path)

    def describe(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "seconds": round(self.seconds, 3)}


@dataclasses.dataclass
class Dataset:
    """Analysed files, those that could not be read (``skipped``: name → reason), and how
    many files were analysed afresh rather than read from the cache (``analysed``)."""

    items: list[AudioItem]
    skipped: dict[str, str]
    analysed: int = 0

    @property
    def seconds(self) -> float:
        return sum(item.seconds for item in self.items)


@dataclasses.dataclass
class Split:
    """Files for fitting (``train``), for early stopping (``validation``) and for the
    final figures (``heldout``), which never influence training."""

    train: list[AudioItem]
    validation: list[AudioItem]
    heldout: list[AudioItem]


def _analyse(path: Path, spec: AudioSpec, cache_dir: Path) -> tuple[str, float, int, Path, bool]:
    """Worker: hash, then load or compute and store the magnitudes. Returns
    (sha256, seconds, frames, cache path, analysed afresh); LtsError for unreadable audio."""
    sha = sha256_file(path)
    cache_path = cache_dir / f"{sha}-{spec.key}.npy"
    seconds_path = cache_path.with_suffix(".seconds")
    if cache_path.exists() and seconds_path.exists():
        frames = np.load(cache_path, mmap_mode="r").shape[0]
        return sha, float(seconds_path.read_text()), frames, cache_path, False
    y = load_audio(path, sample_rate=spec.sample_rate)
    magnitude = cqt_magnitude(y, spec)
    seconds = len(y) / spec.sample_rate
    tmp = cache_path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, magnitude)
    os.replace(tmp, cache_path)
    seconds_path.with_suffix(f".{os.getpid()}.tmp").write_text(repr(seconds))
    os.replace(seconds_path.with_suffix(f".{os.getpid()}.tmp"), seconds_path)
    return sha, seconds, magnitude.shape[0], cache_path, True


def build_dataset(
    folder: str | Path,
    spec: AudioSpec,
    *,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    show_progress: bool = True,
) -> Dataset:
    """Analyse every audio file under ``folder`` in parallel worker processes.

    Unreadable files are skipped and reported in ``Dataset.skipped``; if no file is
    readable, LtsError.
    """
    folder = Path(folder)
    files = find_audio_files(folder)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    workers = workers or min(len(files), os.cpu_count() or 1)
    items, skipped, analysed = [], {}, 0
    with (
        concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool,
        Progress(disable=not show_progress, transient=True) as progress,
    ):
        task = progress.add_task("constant-Q analysis", total=len(files))
        futures = {pool.submit(_analyse, path, spec, cache_dir): path for path in files}
        for future in concurrent.futures.as_completed(futures):
            path = futures[future]
            name = path.relative_to(folder).as_posix()
            try:
                sha, seconds, frames, cache_path, fresh = future.result()
            except LtsError as err:
                skipped[name] = str(err)
            else:
                items.append(AudioItem(name, path, sha, seconds, frames, cache_path))
                analysed += fresh
            progress.advance(task)
    items.sort(key=lambda item: item.name)
    if not items:
        raise LtsError(f"none of the {len(files)} audio files under {folder} could be read; check the files")
    return Dataset(items, dict(sorted(skipped.items())), analysed)


def read_name_list(path: str | Path) -> list[str]:
    """File names, one a line; blank lines and ``#`` comments ignored."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as err:
        raise LtsError(f"cannot read file list {path}: {err.strerror}") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def split_dataset(
    dataset: Dataset,
    *,
    heldout_names: list[str] | None = None,
    heldout_fraction: float = 0.1,
    validation_fraction: float = 0.1,
    seed: int = 0,
) -> Split:
    """Split by file, deterministically: a seeded choice of files, never of frames.

    ``heldout_names`` (names relative to the data folder, or bare file names) fixes the
    held-out files; otherwise a seeded ``heldout_fraction`` of the files is held out.
    The validation files are a seeded choice among the rest.
    """
    items = list(dataset.items)
    rng = random.Random(seed)
    if heldout_names is not None:
        wanted = set(heldout_names)
        heldout = [it for it in items if it.name in wanted or Path(it.name).name in wanted]
        found = {it.name for it in heldout} | {Path(it.name).name for it in heldout}
        missing = sorted(wanted - found)
        if missing:
            raise LtsError(f"held-out files not in the data folder: {', '.join(missing[:5])}; fix the held-out list")
    else:
        heldout = sorted(rng.sample(items, _count(len(items), heldout_fraction)), key=lambda it: it.name)
    rest = [it for it in items if it not in heldout]
    validation = sorted(rng.sample(rest, _count(len(rest), validation_fraction)), key=lambda it: it.name)
    train = [it for it in rest if it not in validation]
    if not train:
        raise LtsError(f"no training files left after holding out {len(heldout)} and validating on {len(validation)}; add audio files")
    return Split(train, validation, heldout)


def _count(n: int, fraction: float) -> int:
    """At least one file when there are three or more, never all of them."""
    if n < 3 or fraction <= 0:
        return 0
    return min(n - 1, max(1, round(n * fraction)))


def stack_frames(items: list[AudioItem]) -> np.ndarray:
    """All magnitude frames of ``items``, shape (total frames, n_bins), float32."""
    if not items:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate([item.load() for item in items], axis=0)
