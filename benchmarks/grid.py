"""A timbre pad across the keyboard, end to end: ``lts-sampler render`` of four note sets
(FluidR3 GM piano, violin, trumpet and steel drum, played by FluidSynth at the 16 pitches
NSynth Super samples, MIDI 24–84 every 4 semitones) on a 5 × 5 grid, 2 s a sample: 400
samples, 800 s of audio, one command as a user runs it (start-up, analysis, encoding,
decoding, phase, WAVs, SFZ and kit.json).

NSynth Super's banks took about 36 hours on eight GPUs for ~120 000 samples of 3.75 s: 288
GPU-hours for 450 000 s of audio, about 2.3 GPU-seconds per second of audio.

    python benchmarks/grid.py [--quality draft|normal|high ...] [--quick]

``--quick`` (seconds, for the test that keeps this script running): 2 pitches, a 2 × 2 grid,
0.5 s a sample, draft quality.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.fluid import available, note_set  # noqa: E402 (the test notes' player)

INSTRUMENTS = ("piano", "violin", "trumpet", "steel-drum")
PITCHES = list(range(24, 85, 4))
SIZE, SECONDS = 5, 2.0
NSYNTH_GPU_S_PER_S = 36 * 3600 * 8 / (120_000 * 3.75)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", nargs="+", default=["draft", "normal"], choices=["draft", "normal", "high"])
    parser.add_argument("--quick", action="store_true", help="a small pad, to check that the script runs")
    args = parser.parse_args()
    if not available():
        sys.exit("needs Debian fluidsynth and fluid-soundfont-gm: apt-get install fluidsynth fluid-soundfont-gm")
    size, pitches, seconds_each = (2, [60, 64], 0.5) if args.quick else (SIZE, PITCHES, SECONDS)
    qualities = ["draft"] if args.quick else args.quality
    samples = size * size * len(pitches)
    audio_s = samples * seconds_each
    cores = os.cpu_count() or 1
    print(f"{platform.processor() or platform.machine()}, {cores} cores; a {size} × {size} grid × {len(pitches)} "
          f"pitches × {seconds_each:g} s = {samples} samples, {audio_s:g} s of audio")
    with tempfile.TemporaryDirectory() as tmp:
        sets = [str(note_set(Path(tmp) / name, name, pitches, seconds=seconds_each)) for name in INSTRUMENTS]
        header = f"{'quality':<9}{'seconds':>9}{'× real time':>13}{'core-s per s':>14}"
        print(header + "\n" + "-" * len(header))
        for quality in qualities:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "lts_sampler", "render", *sets, "--grid", str(size), "--duration", str(seconds_each),
                            "--quality", quality, "--device", "cpu", "-o", str(Path(tmp) / f"pad-{quality}")],
                           check=True, capture_output=True)
            seconds = time.perf_counter() - started
            written = len(list((Path(tmp) / f"pad-{quality}" / "samples").iterdir()))
            assert written == samples, written
            print(f"{quality:<9}{seconds:>9.1f}{seconds / audio_s:>13.4f}{seconds * cores / audio_s:>14.3f}")
    print(f"NSynth Super: about {NSYNTH_GPU_S_PER_S:.1f} GPU-seconds per second of audio (36 h on 8 GPUs for "
          f"~120 000 samples of 3.75 s)")


if __name__ == "__main__":
    main()
