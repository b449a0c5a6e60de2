"""Offline rendering speed of the sampler engine, as a ratio to real time.

Run by hand: ``python benchmarks/sampler.py``. It renders the demo pair as a keys kit and as a
morph kit (into a temporary folder), then plays a 30 s clip through each: 16 voices sounding
at once (a new note every 1/16 of the 1.5 s samples), and on the morph kit a mod-wheel sweep
every second and notes spread over two octaves, so every voice is transposed and two layers
crossfade. It prints seconds, the ratio to real time, and the voices that sounded.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path

import mido

from lts_sampler.cli import main as cli
from lts_sampler.midi_render import render_events
from lts_sampler.sampler import load_kit

CLIP_S = 30.0
VOICES = 16
SAMPLE_S = 1.5


def clip(kit_mode: str, root: int) -> list[tuple[float, mido.Message]]:
    """(seconds, message): a note every SAMPLE_S / VOICES seconds, each held for SAMPLE_S."""
    step = SAMPLE_S / VOICES
    events, n = [], 0
    while n * step < CLIP_S:
        note = root + n % 9 if kit_mode == "keys" else root - 12 + (n * 7) % 25
        events += [(n * step, mido.Message("note_on", note=note, velocity=100)),
                   (n * step + SAMPLE_S * 0.95, mido.Message("note_off", note=note))]
        n += 1
    if kit_mode == "morph":
        events += [(t / 20, mido.Message("control_change", control=1, value=abs(127 - (t * 127 // 10) % 254)))
                   for t in range(int(CLIP_S * 20))]
    return sorted(events, key=lambda e: e[0])


def main() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}")
    print(f"{'kit':<8}{'audio s':>9}{'render s':>10}{'× real time':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("keys", "morph"):
            folder = Path(tmp) / mode
            cli(["render", "--demo", "--mode", mode, "-o", str(folder), "--quality", "draft", "--json"])
            kit = load_kit(folder)
            events = clip(mode, kit.root)
            start = time.perf_counter()
            audio = render_events(kit, events, voices=32)
            seconds = time.perf_counter() - start
            length = len(audio) / kit.sample_rate
            print(f"{mode:<8}{length:>9.1f}{seconds:>10.3f}{length / seconds:>13.0f}")


if __name__ == "__main__":
    main()
