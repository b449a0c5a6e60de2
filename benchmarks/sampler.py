"""Offline rendering speed of the sampler engine, as a ratio to real time.

Run by hand: ``python benchmarks/sampler.py``. It renders the demo pair as a keys kit and as a
morph kit, and the four demo clips as a 5 × 5 grid kit (25 layers), into a temporary folder,
then plays a 30 s clip through each: 16 voices sounding at once (a new note every 1/16 of the
1.5 s samples); on the morph and grid kits the notes spread over two octaves, so every voice
is transposed, and the controllers move: the mod wheel sweeps every second (morph: two layers
crossfade; grid: CC1, the pad's X) and on the grid CC2 (Y) sweeps every 1.3 s as well, so up
to four cells sound per voice. It prints seconds, the ratio to real time, and the best of
``REPEATS`` runs (the machine's other load only ever slows a run down). ``--quick``: a 3 s clip,
once, through small kits (to check that the script runs).
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import mido

from lts_sampler.faces.cli import main as cli
from lts_sampler.playing.midi_render import render_events
from lts_sampler.playing.sampler import load_kit

CLIP_S = 30.0
VOICES = 16
SAMPLE_S = 1.5
REPEATS = 5
KITS = {"keys": ["--mode", "keys"], "morph": ["--mode", "morph"], "grid": ["--grid", "5"]}
QUICK_KITS = {"keys": ["--mode", "keys", "--alphas", "0,1"], "morph": ["--mode", "morph", "--alphas", "0,1"],
              "grid": ["--grid", "2"]}
QUICK_CLIP_S = 3.0


def sweep(cc: int, period_s: float, clip_s: float) -> list[tuple[float, mido.Message]]:
    """Controller ``cc`` up from 0 to 127 and down again every ``period_s`` seconds, 20 steps a second."""
    half = period_s / 2
    return [(t / 20, mido.Message("control_change", control=cc, value=round(127 * abs((t / 20) % period_s - half) / half)))
            for t in range(int(clip_s * 20))]


def clip(kit_mode: str, root: int, clip_s: float) -> list[tuple[float, mido.Message]]:
    """(seconds, message): a note every SAMPLE_S / VOICES seconds, each held for SAMPLE_S."""
    step = SAMPLE_S / VOICES
    events, n = [], 0
    while n * step < clip_s:
        note = root + n % 9 if kit_mode == "keys" else root - 12 + (n * 7) % 25
        events += [(n * step, mido.Message("note_on", note=note, velocity=100)),
                   (n * step + SAMPLE_S * 0.95, mido.Message("note_off", note=note))]
        n += 1
    if kit_mode != "keys":
        events += sweep(1, 1.0, clip_s)
    if kit_mode == "grid":
        events += sweep(2, 1.3, clip_s)
    return sorted(events, key=lambda e: e[0])


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    kits = QUICK_KITS if quick else KITS
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}")
    print(f"{'kit':<8}{'audio s':>9}{'render s':>10}{'× real time':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for mode, args in kits.items():
            folder = Path(tmp) / mode
            with contextlib.redirect_stdout(io.StringIO()):
                cli(["render", "--demo", *args, "-o", str(folder), "--quality", "draft", "--json"])
            kit = load_kit(folder)
            events = clip(mode, kit.root, QUICK_CLIP_S if quick else CLIP_S)
            seconds = []
            for _ in range(1 if quick else REPEATS):
                start = time.perf_counter()
                audio = render_events(kit, events, voices=32)
                seconds.append(time.perf_counter() - start)
            length = len(audio) / kit.sample_rate
            print(f"{mode:<8}{length:>9.1f}{min(seconds):>10.3f}{length / min(seconds):>13.0f}")


if __name__ == "__main__":
    main()
