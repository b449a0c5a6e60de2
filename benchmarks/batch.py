"""``lts-sampler batch`` at sample-pack scale, on this machine and on a Dask cluster: a plan of
four pads across the keyboard, each a 5 × 5 grid of four note sets (FluidR3 GM piano, violin,
trumpet and steel drum, played by FluidSynth), four pitches a pad, the 16 pitches NSynth Super
samples (MIDI 24–84 every 4 semitones) in all, 2 s a sample: 400 samples, 800 s of audio.
Each way of rendering runs the whole command as a user runs it (start-up, the model, analysis,
encoding, decoding, phase, the kits written); the cluster's start is not counted (one runs
already), its workers' first model load is.

    python benchmarks/batch.py [--pitches N] [--quality draft|normal|high] [--quick]

Ways: this process (a thread per core, the default), ``--workers 1`` and ``--workers 2``
(local processes), and ``--cluster`` (a Dask scheduler and two one-thread workers started here
on 127.0.0.1 by Dask's own CLI; needs the ``cluster`` extra). Every way's WAVs are checked
byte for byte against the first's.

NSynth Super's banks took about 36 hours on eight GPUs for ~120 000 samples of 3.75 s: 288
GPU-hours for 450 000 s of audio, about 2.3 GPU-seconds per second of audio. The projection
divides that audio by the fastest way's seconds per audio second and by N machines of this
kind, as if a cluster of N scaled as two workers on one machine do (the table shows how well).

``--quick`` (seconds, for the test that keeps this script running): 2 pitches in one pad, a
2 × 2 grid, 0.5 s a sample, draft quality, no ``--workers 1``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from grid import INSTRUMENTS, NSYNTH_GPU_S_PER_S, PITCHES, SECONDS, SIZE  # noqa: E402 (the same pad, one kit)
from support.cluster import local_cluster  # noqa: E402 (Dask's CLI, as a user runs it)
from support.fluid import available, note_set  # noqa: E402 (the test notes' player)

PITCHES_PER_PAD = 4
NSYNTH_SAMPLES, NSYNTH_SAMPLE_S = 120_000, 3.75
MACHINES = (1, 8, 64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pitches", type=int, default=len(PITCHES), help="how many of the 16 pitches (fewer: sooner)")
    parser.add_argument("--quality", default="normal", choices=["draft", "normal", "high"])
    parser.add_argument("--quick", action="store_true", help="a small plan, to check that the script runs")
    args = parser.parse_args()
    if not available():
        sys.exit("needs Debian fluidsynth and fluid-soundfont-gm: apt-get install fluidsynth fluid-soundfont-gm")
    pitches = [60, 64] if args.quick else PITCHES[:: max(1, len(PITCHES) // max(1, args.pitches))][: args.pitches]
    size, seconds_each, quality = (2, 0.5, "draft") if args.quick else (SIZE, SECONDS, args.quality)
    pads = [pitches[i : i + PITCHES_PER_PAD] for i in range(0, len(pitches), PITCHES_PER_PAD)]
    samples = size * size * len(pitches)
    audio_s = samples * seconds_each
    cores = os.cpu_count() or 1
    print(f"{platform.processor() or platform.machine()}, {cores} cores; {len(pads)} pads × a {size} × {size} grid × "
          f"{len(pitches)} pitches × {seconds_each:g} s = {samples} samples, {audio_s:g} s of audio, {quality}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plan = write_plan(folder, pads, size, seconds_each, quality)
        ways = {"this process": [], "--workers 1": ["--workers", "1"], "--workers 2": ["--workers", "2"]}
        if args.quick:  # the same path as two
            del ways["--workers 1"]
        header = f"{'way':<34}{'seconds':>9}{'samples/s':>11}{'× real time':>13}{'core-s per s':>14}"
        print(header + "\n" + "-" * len(header))
        times, reference = {}, None
        with dask_cluster(folder) as address:
            if address is not None:
                ways["--cluster (2 workers × 1 thread)"] = ["--cluster", address]
            for way, flags in ways.items():
                out = folder / f"kits-{len(times)}"
                seconds = run_batch(plan, out, flags)
                wavs = digests(out)
                assert len(wavs) == samples, f"{way}: {len(wavs)} of {samples} samples"
                reference = reference or wavs
                assert wavs == reference, f"{way}: the samples differ from {next(iter(ways))}'s"
                times[way] = seconds
                print(f"{way:<34}{seconds:>9.1f}{samples / seconds:>11.1f}{audio_s / seconds:>13.1f}"
                      f"{seconds * cores / audio_s:>14.3f}")
            if address is None:
                print("--cluster: not run (pip install 'lts-sampler[cluster]' for Dask)")
    print(f"every way's {samples} WAVs byte for byte the same")
    print(f"NSynth Super: about {NSYNTH_GPU_S_PER_S:.1f} GPU-seconds per second of audio (36 h on 8 GPUs for "
          f"~{NSYNTH_SAMPLES:,} samples of {NSYNTH_SAMPLE_S} s)")
    if {"--workers 1", "--workers 2"} <= set(times):
        print(f"two local workers against one: {times['--workers 1'] / times['--workers 2']:.2f}× as fast")
    best = min(times, key=times.get)
    per_audio_s = times[best] / audio_s
    total_s = NSYNTH_SAMPLES * NSYNTH_SAMPLE_S * per_audio_s
    print(f"NSynth Super's {NSYNTH_SAMPLES:,} samples ({NSYNTH_SAMPLES * NSYNTH_SAMPLE_S:,.0f} s of audio) at "
          f"{quality}, as fast as {best}: " + ", ".join(f"{hours(total_s / n)} on {n}" for n in MACHINES)
          + " machines of this kind (NSynth Super: 36 h on 8 GPUs)")


def write_plan(folder: Path, pads: list[list[int]], size: int, seconds: float, quality: str) -> Path:
    """The note sets, one folder per instrument and pad, and the plan: one grid kit a pad."""
    kits = []
    for number, pitches in enumerate(pads, start=1):
        sources = [str(note_set(folder / "notes" / f"{name}-{number}", name, pitches, seconds=seconds))
                   for name in INSTRUMENTS]
        kits.append(f"[[kit]]\nsources = {json.dumps(sources)}\ngrid = {size}\nout = \"pad-{number}\"\n")
    plan = folder / "plan.toml"
    plan.write_text(f'[defaults]\nquality = "{quality}"\nduration = {seconds}\n\n' + "\n".join(kits))
    return plan


def run_batch(plan: Path, out: Path, flags: list[str]) -> float:
    """Seconds for the whole ``batch`` command, its kits written under ``out``."""
    out.mkdir()
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lts_sampler", "batch", str(plan), "--device", "cpu", "--json",
                           *flags], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"batch {' '.join(flags)} failed:\n{done.stderr[-2000:]}")
    for kit in json.loads(done.stdout)["kits"]:  # the plan's folders are relative: move them under out
        Path(kit["out"]).rename(out / Path(kit["out"]).name)
    return seconds


def digests(folder: Path) -> dict[str, str]:
    """Every WAV under ``folder`` by its path there: its sha256."""
    return {str(wav.relative_to(folder)): hashlib.sha256(wav.read_bytes()).hexdigest()
            for wav in sorted(folder.rglob("*.wav"))}


@contextmanager
def dask_cluster(folder: Path) -> Iterator[str | None]:
    """A Dask scheduler and two one-thread workers on 127.0.0.1 (its address), or None without Dask."""
    if importlib.util.find_spec("distributed") is None:
        yield None
        return
    with local_cluster(folder) as address:
        yield address


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


if __name__ == "__main__":
    main()
