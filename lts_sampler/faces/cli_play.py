"""The playing verbs: ``play`` (a MIDI keyboard), ``bridge`` (a MIDI port a DAW plays) and
``render-midi`` (a MIDI file, offline). Arguments → :mod:`lts_sampler.playing` → a summary."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from lts_sampler.core.errors import BadValue, LtsError
from lts_sampler.playing.live import Kits, Performance, foreground_terminal
from lts_sampler.playing.midi_ports import MidiIn, find_input, midi_api
from lts_sampler.playing.midi_render import below_clipping, check_wav_out, read_midi_events, render_events, write_wav
from lts_sampler.playing.output import find_output
from lts_sampler.playing.sampler import load_kit

RENDER_OFFLINE = "to render offline instead: lts-sampler render-midi KIT song.mid -o out.wav"


@contextlib.contextmanager
def offering_offline() -> Iterator[None]:
    """An LtsError inside (no audio output, no MIDI port) ends with how to render offline."""
    try:
        yield
    except LtsError as err:
        raise LtsError(f"{err}; {RENDER_OFFLINE}") from None


def play_command(args: argparse.Namespace) -> int:
    """``lts-sampler play KIT``: a MIDI input port (``--midi-in``, default the first) plays KIT."""
    api = midi_api(args.midi_api)
    kits = Kits([Path(args.kit)])
    with offering_offline():
        output = find_output(args.output, sample_rate=kits[0].sample_rate, jack_name="lts-sampler")
        performance = Performance(kits, output, voices=args.voices, block=args.block)
        port = find_input(api, args.midi_in, no_ports="connect a keyboard, or let a DAW play `lts-sampler bridge`")
    keys = sys.stdin.fileno() if kits[0].grid is not None and foreground_terminal(sys.stdin) else None
    with MidiIn(api, client_name="lts-sampler midi", port=port) as midi, offering_offline():
        return performance.run(midi, f"playing {kits[0].name}: MIDI in '{port}' ({api})", keys=keys)


def bridge_command(args: argparse.Namespace) -> int:
    """``lts-sampler bridge``: a virtual MIDI input port named ``--name`` (or the existing port
    ``--midi-in``) plays the kits in ``--kits``; program change N selects the N-th (sorted by
    folder name, from 0)."""
    api = midi_api(args.midi_api)
    try:
        kits = Kits.in_folder(Path(args.kits))
    except BadValue as err:
        raise LtsError(f"{err.worded('--kits')}, e.g. lts-sampler render --demo -o {Path(args.kits) / 'demo'}") from None
    with offering_offline():
        output = find_output(args.output, sample_rate=kits[0].sample_rate, jack_name=f"{args.name} audio")
        performance = Performance(kits, output, voices=args.voices, block=args.block)
    if args.midi_in is not None:
        port = find_input(api, args.midi_in, no_ports="create a loopback port (e.g. with loopMIDI) for the DAW")
        midi, heard = MidiIn(api, client_name=args.name, port=port), f"MIDI in '{port}'"
    else:
        midi, heard = MidiIn(api, client_name=args.name, virtual=args.name), f"MIDI port '{args.name}'"
    names = ", ".join(f"{i}: {folder.name}" for i, folder in enumerate(kits.folders))
    with midi, offering_offline():
        return performance.run(midi, f"{heard} ({api}); kits {names}")


def render_midi_command(args: argparse.Namespace) -> int:
    """``lts-sampler render-midi KIT SONG -o OUT``."""
    kit = load_kit(args.kit)
    events = read_midi_events(args.song)
    out = Path(args.out)
    check_wav_out(out)
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    length = events[-1][0] if events else 0.0
    started = time.monotonic()
    columns = (TextColumn("rendering"), BarColumn(), TextColumn("{task.completed:.1f} / {task.total:.1f} s"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("render", total=max(length, 1e-9))
        audio = render_events(kit, events, voices=args.voices,
                              progress=lambda s: bar.update(task, completed=min(s, length)))
    seconds = time.monotonic() - started
    audio, peak_dbfs, lowered_db = below_clipping(audio)
    write_wav(out, audio, kit.sample_rate)
    notes = sum(1 for _, m in events if m.type == "note_on" and m.velocity > 0)
    duration = len(audio) / kit.sample_rate
    summary = {"wav": str(out.resolve()), "kit": kit.name, "notes": notes, "seconds": round(duration, 3),
               "render_seconds": round(seconds, 3), "speed": round(duration / max(seconds, 1e-9), 1),
               "peak_dbfs": round(peak_dbfs, 2), "lowered_db": round(lowered_db, 2)}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        note = f"; lowered {lowered_db:.1f} dB so it does not clip" if lowered_db else ""
        console.print(f"wrote {out} — {notes} notes through {kit.name}, {duration:.2f} s of audio "
                      f"in {seconds:.2f} s ({summary['speed']:.0f}× real time){note}")
    return 0
