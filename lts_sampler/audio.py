"""Reading audio files: mono, at the model's rate, an excerpt in seconds."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from lts_sampler.errors import LtsError

AUDIO_SUFFIXES = frozenset("." + ext.lower() for ext in sf.available_formats()) | {".aif", ".oga", ".opus", ".mp3"}
"""File name suffixes of the formats libsndfile reads."""


def find_audio_files(folder: str | Path) -> list[Path]:
    """Files under ``folder`` (recursive, sorted) whose suffix libsndfile reads; hidden files skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LtsError(f"data folder {folder} does not exist; give a folder of audio files")
    files = sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith(".")
    )
    if not files:
        raise LtsError(f"no audio files under {folder}; put wav, flac, ogg, aiff or mp3 files there")
    return files


class _QuietStderr:
    """Silences what the C decoders (mpg123 and friends) print to fd 2 while probing a file: a
    bad file is reported once, by our own error. Threads probing at once share one silence:
    the first in points fd 2 at /dev/null, the last out points it back (were each to save and
    restore fd 2 itself, one could "restore" another's /dev/null and silence the process)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._inside = 0
        self._saved: int | None = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._inside == 0:
                self._saved = self._silence()
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0 and self._saved is not None:
                    os.dup2(self._saved, 2)
                    os.close(self._saved)
                    self._saved = None

    @staticmethod
    def _silence() -> int | None:
        """Point fd 2 at /dev/null; the saved fd 2, or None without a real stderr (e.g. captured)."""
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):
            return None
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        return saved


_quiet_decoder_messages = _QuietStderr()


def load_audio(
    path: str | Path,
    *,
    sample_rate: int,
    offset: float = 0.0,
    duration: float | None = None,
    max_seconds: float | None = None,
) -> np.ndarray:
    """Read a file as mono float32 at ``sample_rate``.

    Parameters
    ----------
    path : any format libsndfile reads (wav, flac, ogg, aiff, mp3)
    sample_rate : Hz to resample to (soxr, high quality)
    offset, duration : seconds; the excerpt to read (``duration=None`` reads to the end)
    max_seconds : refuse an excerpt longer than this, before reading it (None: no limit)

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]

    Raises
    ------
    LtsError
        The file is unreadable, holds non-finite samples, or the excerpt is empty or too long.
    """
    path = Path(path)
    try:
        with _quiet_decoder_messages(), sf.SoundFile(path) as f:
            native_rate = f.samplerate
            start = int(round(offset * native_rate))
            f.seek(min(start, f.frames))
            frames = max(0, f.frames - start)
            if duration is not None:
                frames = min(frames, int(round(duration * native_rate)))
            if max_seconds is not None and frames > max_seconds * native_rate:
                raise LtsError(
                    f"{path} gives {frames / native_rate:.0f} s of audio, more than the {max_seconds:g} s a source "
                    "may be; pick an excerpt with --duration (and --offset), e.g. --duration 4"
                )
            data = f.read(frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise LtsError(f"cannot read audio file {path}: {err}; use a wav, flac, ogg, aiff or mp3 file") from None
    y = data.mean(axis=1)
    if y.size == 0:
        raise LtsError(f"{path} has no audio at offset {offset:g} s; choose an offset inside the file")
    if not np.all(np.isfinite(y)):
        raise LtsError(f"{path} holds NaN or infinite samples; re-export it as ordinary PCM audio")
    if native_rate != sample_rate:
        y = soxr.resample(y, native_rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(y, dtype=np.float32)
