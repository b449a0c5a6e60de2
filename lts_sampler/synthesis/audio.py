"""Reading audio files: mono, at the model's rate, an excerpt in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from lts_sampler.core.errors import BadValue, LtsError
from lts_sampler.core.native import quiet_native

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
        with quiet_native(), sf.SoundFile(path) as f:
            native_rate = f.samplerate
            start = int(round(offset * native_rate))
            f.seek(min(start, f.frames))
            frames = max(0, f.frames - start)
            if duration is not None:
                frames = min(frames, int(round(duration * native_rate)))
            if max_seconds is not None and frames > max_seconds * native_rate:
                raise BadValue("duration", None, f"{path} gives {frames / native_rate:.0f} s of audio, more than the "
                               f"{max_seconds:g} s a source may be; pick a shorter excerpt (and an offset), e.g. 4 s")
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
