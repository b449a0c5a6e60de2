"""``lts-sampler render-midi``: a MIDI file played through a kit, offline, into a WAV file.

Deterministic: events (notes, and controllers such as a morph kit's mod wheel or a grid kit's
two pad controllers) are applied at their exact sample (tempo changes honoured, through mido's
reader), the audio between them is rendered in blocks of at most ``BLOCK`` frames,
and after the last event the render goes on until every voice has ended (releases, or the
samples running out).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import mido
import numpy as np
import soundfile as sf
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from lts_sampler.atomic import replacing_file
from lts_sampler.errors import LtsError
from lts_sampler.sampler import Kit, Sampler, load_kit

BLOCK = 4096
"""Most frames rendered at once between events."""
MAX_TAIL_S = 60.0
"""The tail after the last event stops here even if a voice still sounds."""
PEAK_DBFS = -1.0


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


def render_midi_command(args: argparse.Namespace) -> int:
    """`lts-sampler render-midi KIT SONG -o OUT`."""
    kit = load_kit(args.kit)
    events = read_midi_events(args.song)
    out = Path(args.out)
    if not out.parent.is_dir():
        what = "is a file, not a folder" if out.parent.exists() else "does not exist"
        raise LtsError(f"folder {out.parent} {what}; choose another --out (or create the folder)")
    if out.suffix.lower() != ".wav":
        raise LtsError(f"--out {out} must name a .wav file")
    console = Console(stderr=True, highlight=False)
    length = events[-1][0] if events else 0.0
    started = time.monotonic()
    columns = (TextColumn("rendering"), BarColumn(), TextColumn("{task.completed:.1f} / {task.total:.1f} s"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("render", total=max(length, 1e-9))
        audio = render_events(kit, events, voices=args.voices, progress=lambda s: bar.update(task, completed=min(s, length)))
    seconds = time.monotonic() - started
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    ceiling = 10 ** (PEAK_DBFS / 20)
    lowered_db = 0.0
    if peak > ceiling:  # the mix would clip: bring it down as a whole
        lowered_db = 20 * np.log10(peak / ceiling)
        audio *= ceiling / peak
    with replacing_file(out) as tmp:
        sf.write(tmp, audio, kit.sample_rate, subtype="PCM_24", format="WAV")
    notes = sum(1 for _, m in events if m.type == "note_on" and m.velocity > 0)
    duration = len(audio) / kit.sample_rate
    summary = {"wav": str(out.resolve()), "kit": kit.name, "notes": notes, "seconds": round(duration, 3),
               "render_seconds": round(seconds, 3), "speed": round(duration / max(seconds, 1e-9), 1),
               "peak_dbfs": round(20 * np.log10(max(peak, 1e-12)), 2), "lowered_db": round(lowered_db, 2)}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        note = f"; lowered {lowered_db:.1f} dB so it does not clip" if lowered_db else ""
        console.print(f"wrote {out} — {notes} notes through {kit.name}, {duration:.2f} s of audio "
                      f"in {seconds:.2f} s ({summary['speed']:.0f}× real time){note}")
    return 0
