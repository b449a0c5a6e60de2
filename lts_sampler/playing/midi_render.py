"""A MIDI file played through a kit, offline, into a WAV file (``lts-sampler render-midi``).

Deterministic: events (notes, and controllers such as a morph kit's mod wheel or a grid kit's
two pad controllers) are applied at their exact sample (tempo changes honoured, through mido's
reader), the audio between them is rendered in blocks of at most ``BLOCK`` frames,
and after the last event the render goes on until every voice has ended (releases, or the
samples running out).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from lts_sampler.core.atomic import replacing_file
from lts_sampler.core.errors import BadValue, LtsError
from lts_sampler.core.spec import PEAK_DBFS
from lts_sampler.playing.sampler import Kit, Sampler

BLOCK = 4096
"""Most frames rendered at once between events."""
MAX_TAIL_S = 60.0
"""The tail after the last event stops here even if a voice still sounds."""


def read_midi_events(path: str | Path) -> list[tuple[float, mido.Message]]:
    """(seconds from the start, message) of every channel message of a standard MIDI file,
    all tracks merged, tempo changes honoured; LtsError when the file cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise LtsError(f"MIDI file {path} does not exist; check the path")
    try:
        midi = mido.MidiFile(path)
        events, now = [], 0.0
        for message in midi:  # merged tracks; .time is the delta in seconds at the tempo in force
            now += message.time
            if not message.is_meta and message.type != "sysex":
                events.append((now, message))
    except Exception as err:  # noqa: BLE001 (mido raises many kinds: OSError, EOFError, ValueError, KeyError… on bad files)
        detail = str(err) or "the file ends too early"
        raise LtsError(f"cannot read MIDI file {path} ({type(err).__name__}: {detail}); give a standard MIDI file (.mid)") from None
    if not any(m.type == "note_on" and m.velocity > 0 for _, m in events):
        raise LtsError(f"MIDI file {path} has no notes; nothing to render")
    return events


def render_events(
    kit: Kit,
    events: list[tuple[float, mido.Message]],
    *,
    voices: int = 32,
    progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """Audio [n] float32 at the kit's rate of ``events`` played through ``kit``;
    ``progress(seconds_rendered)`` after each block."""
    sampler = Sampler(kit, max_voices=voices)
    rate = kit.sample_rate
    blocks, done = [], 0

    def advance(frames: int) -> None:
        nonlocal done
        while frames > 0:
            size = min(BLOCK, frames)
            blocks.append(sampler.render(size))
            done, frames = done + size, frames - size
            if progress is not None:
                progress(done / rate)

    for seconds, message in events:
        advance(round(seconds * rate) - done)
        sampler.handle(message)
    tail_end = done + int(MAX_TAIL_S * rate)
    while sampler.active_voices and done < tail_end:
        advance(min(BLOCK, tail_end - done))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)


def check_wav_out(out: Path) -> None:
    """BadValue unless ``out`` names a .wav file in an existing folder."""
    if not out.parent.is_dir():
        what = "is a file, not a folder" if out.parent.exists() else "does not exist"
        raise BadValue("out", str(out), f"folder {out.parent} {what}; choose another (or create the folder)")
    if out.suffix.lower() != ".wav":
        raise BadValue("out", str(out), "name a .wav file")


def below_clipping(audio: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``audio`` [n], brought down as a whole if it would clip (peak over ``PEAK_DBFS``):
    (audio, its peak before in dBFS, dB lowered)."""
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    ceiling = 10 ** (PEAK_DBFS / 20)
    lowered_db = 0.0
    if peak > ceiling:
        lowered_db = float(20 * np.log10(peak / ceiling))
        audio = audio * (ceiling / peak)
    return audio, float(20 * np.log10(max(peak, 1e-12))), lowered_db


def write_wav(out: Path, audio: np.ndarray, sample_rate: int) -> None:
    """``audio`` as 24-bit WAV at ``out``, written whole or not at all."""
    with replacing_file(out) as tmp:
        sf.write(tmp, audio, sample_rate, subtype="PCM_24", format="WAV")
