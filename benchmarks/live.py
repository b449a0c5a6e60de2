"""Live play against the machine's floor: does the bridge drop audio where C clients do not?

    python benchmarks/live.py [--seconds 300] [--busy] [--period 256] [--cpu-load 8] [--quick]

``--quick`` plays 4 s through small draft kits: a check that the script runs, no figure.

It starts a JACK server of its own (``jackd -R -d dummy``), so that it reads the server's own
reports, and runs beside the bridge three of Debian's C example clients (package jackd2):
``jack_metro`` and ``jack_simple_client``, which do next to nothing each period, and
``jack_cpu``, which spins for ``--cpu-load`` per cent of each period (8 %, 0.46 ms: about
what the bridge's callback takes here). jackd names a client late more often the longer it
works each period, so ``jack_cpu`` is the floor for a client doing the bridge's work. It also
names a client late more often the later it runs in the graph: ``jack_midi_dump`` (a MIDI sink)
and ``jack_midisine`` (MIDI in, a sine out) get the player's MIDI as the bridge does, so their
counts are the floor for a client at the bridge's place in the graph.

A second JACK client, this process, plays the bridge: a chord of 8 notes every second (held
0.6 s, then released: 8 voices sounding, and silence before the next, so each chord's onset
can be found), the mod wheel at 20 Hz, a program change every 10 s through a keys, a morph
and a grid kit of the demo sources. Every MIDI event
is scheduled by JACK frame time in the player's process callback, and the bridge's audio is
recorded there, on one clock.

It prints the bridge's own underrun count (PortAudio's, which counts every xrun of the
server), note-to-sound latency (median and max, from each chord's note-on to its first sample
above −60 dBFS) and jackd's xrun reports per client ("client = X was not finished, state =
S"): Running, the client was still working when the period ended; Triggered, it was waiting to
run, for a client before it in the graph or for the system to wake it. The C clients' counts
are the machine's floor; ``--busy`` holds one core with a busy loop in another process.
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import jack
import mido
import numpy as np

RATE = 44100
CHORD = tuple(range(60, 68))  # 8 notes that every demo kit plays (keys kits: C4–G#4)
CHORD_EVERY_S, HOLD_S = 1.0, 0.6
WHEEL_HZ = 20
PROGRAM_EVERY_S = 10
ONSET = 1e-3  # −60 dBFS
KITS = {"a-keys": ["--mode", "keys"], "b-morph": ["--mode", "morph"],
        "c-grid": ["--grid", "3", "--quality", "draft", "--duration", "1.5"]}
QUICK = ["--quality", "draft", "--duration", "0.7"]
QUICK_KITS = {"a-keys": ["--mode", "keys", "--alphas", "0,1", *QUICK], "b-morph": ["--mode", "morph", "--alphas", "0,1", *QUICK],
              "c-grid": ["--grid", "2", *QUICK]}
DOWNSTREAM = ["midi-dump:input", "midisine:midi_in"]
"""C clients' MIDI inputs the player feeds with the bridge's: their counts are the floor for a
client at the bridge's place in the graph (after the player, a Python client that is itself late)."""
NOT_FINISHED = re.compile(r"client = (.+?) was not finished, state = (\w+)")
DRIVER_LATE = re.compile(r"JackTimedDriver::Process XRun")


def schedule(seconds: float) -> list[tuple[int, bytes]]:
    """(frame from the start, raw MIDI) of the whole performance, in time order."""
    events = []
    for k in range(int(seconds / CHORD_EVERY_S)):
        start = k * CHORD_EVERY_S
        if k % PROGRAM_EVERY_S == 0:  # in the silence before the chord
            events.append((start - 0.1, mido.Message("program_change", program=(k // PROGRAM_EVERY_S) % len(KITS))))
        events += [(start, mido.Message("note_on", note=n, velocity=100)) for n in CHORD]
        events += [(start + HOLD_S, mido.Message("note_off", note=n)) for n in CHORD]
    for k in range(int(seconds * WHEEL_HZ)):
        phase = (k / WHEEL_HZ) % 2.0  # up in one second, down in the next
        events.append((k / WHEEL_HZ, mido.Message("control_change", control=1, value=round(127 * min(phase, 2 - phase)))))
    return sorted(((max(0, round(t * RATE)), m.bin()) for t, m in events), key=lambda e: e[0])


class Player:
    """A JACK client: writes the scheduled MIDI into the bridge's port and records its audio
    into a buffer allocated beforehand (nothing is allocated in the process callback)."""

    def __init__(self, server: str, midi_ports: list[str], audio_port: str, events: list[tuple[int, bytes]],
                 seconds: float):
        self.client = jack.Client("lts-bench-player", servername=server, no_start_server=True)
        self.midi = self.client.midi_outports.register("midi_out")
        self.input = self.client.inports.register("in")
        self.events, self.next = events, 0
        self.audio = np.zeros(int((seconds + 5) * RATE), np.float32)
        self.recorded = 0
        self.start: int | None = None  # frame time of the first period
        self.chord_frames: list[int] = []  # JACK frame time of each chord's note-on
        self.gaps = 0  # periods the player itself missed
        self._last = None
        self.client.set_process_callback(self._process)
        self.client.activate()
        for port in midi_ports:
            self.client.connect(self.midi, port)
        self.client.connect(audio_port, self.input)

    def _process(self, frames: int) -> None:
        now = self.client.last_frame_time
        if self.start is None:
            self.start = now
        if self._last is not None and now != self._last + frames:
            self.gaps += 1
        self._last = now
        self.midi.clear_buffer()
        end = now - self.start + frames
        while self.next < len(self.events) and self.events[self.next][0] < end:
            at, data = self.events[self.next]
            offset = min(frames - 1, max(0, at - (now - self.start)))
            self.midi.write_midi_event(offset, data)
            if data[0] & 0xF0 == 0x90 and data[1] == CHORD[0]:
                self.chord_frames.append(now + offset)
            self.next += 1
        position = now - self.start
        if position + frames <= len(self.audio):
            self.audio[position : position + frames] = self.input.get_array()
            self.recorded = position + frames

    def latencies(self) -> list[float]:
        """Seconds from each chord's note-on to its first sound."""
        found = []
        for on in self.chord_frames:
            begin = on - self.start
            window = self.audio[begin : begin + int(0.5 * RATE)]
            if begin + len(window) > self.recorded:
                break
            loud = np.flatnonzero(np.abs(window) > ONSET)
            if loud.size:
                found.append(loud[0] / RATE)
        return found

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


def render_kits(folder: Path, *, quick: bool) -> None:
    """The keys, morph and grid kits of the demo sources; ``quick``: two short draft samples
    each (a 2 × 2 grid)."""
    for name, args in (QUICK_KITS if quick else KITS).items():
        subprocess.run([sys.executable, "-m", "lts_sampler.faces.cli", "render", "--demo", *args, "-o", str(folder / name),
                        "--json"], check=True, capture_output=True)


def wait_for_server(server: str, jackd: subprocess.Popen) -> None:
    done = subprocess.run(["jack_wait", "-s", server, "-w", "-t", "20"], capture_output=True, check=False)
    if done.returncode != 0 or jackd.poll() is not None:
        sys.exit(f"jackd did not start: {jackd.stderr.read() if jackd.poll() is not None else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="how long to play (default 300)")
    parser.add_argument("--busy", action="store_true", help="hold one core with a busy loop meanwhile")
    parser.add_argument("--period", type=int, default=256, help="JACK period in frames (default 256)")
    parser.add_argument("--cpu-load", type=int, default=8, help="per cent of a period jack_cpu spins (default 8)")
    parser.add_argument("--quick", action="store_true", help="4 s through small kits, to check that the script runs")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 4.0
    server = f"lts-bench-{os.getpid()}"
    env = {**os.environ, "JACK_DEFAULT_SERVER": server}
    processes: list[subprocess.Popen] = []
    log = tempfile.TemporaryFile("w+")
    with tempfile.TemporaryDirectory() as tmp:
        render_kits(Path(tmp), quick=args.quick)
        jackd = subprocess.Popen(["jackd", "-n", server, "-R", "-d", "dummy", "-r", str(RATE), "-p", str(args.period)],
                                 stdout=log, stderr=subprocess.STDOUT, text=True)
        processes.append(jackd)
        player = None
        try:
            wait_for_server(server, jackd)
            processes.append(subprocess.Popen(["jack_metro", "-b", "120", "-n", "metro"], env=env,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            processes.append(subprocess.Popen(["jack_simple_client"], env=env, stdin=subprocess.DEVNULL,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            for downstream in (["jack_midi_dump", "midi-dump"], ["jack_midisine"]):  # C clients fed by the player, as the bridge is
                processes.append(subprocess.Popen(downstream, env=env, stdin=subprocess.DEVNULL,
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            processes.append(subprocess.Popen(["jack_cpu", "-c", str(args.cpu_load)], env=env,
                                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL))
            if args.busy:
                processes.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
            bridge = subprocess.Popen([sys.executable, "-m", "lts_sampler.faces.cli", "bridge", "--kits", tmp,
                                       "--midi-api", "jack", "--name", "lts-bench"],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            processes.append(bridge)
            lines: collections.deque[str] = collections.deque(maxlen=5)
            reader = threading.Thread(target=lambda: lines.extend(bridge.stdout), daemon=True)
            reader.start()
            deadline = time.monotonic() + 120
            while not any(line.startswith("ready:") for line in lines):
                if bridge.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"the bridge did not start: {bridge.stderr.read()}")
                time.sleep(0.05)
            time.sleep(1.0)
            log.seek(0, os.SEEK_END)
            before = log.tell()  # count only what jackd reports while the player plays
            gc.freeze()
            player = Player(server, ["lts-bench:lts-bench", *DOWNSTREAM], "lts-bench audio:out_0", schedule(args.seconds),
                            args.seconds)
            time.sleep(args.seconds + 1.0)
            player.close()
            gc.unfreeze()
            bridge.send_signal(signal.SIGTERM)
            bridge.wait(30)
            reader.join(5)
        finally:
            for process in reversed(processes):
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(10)
                    except subprocess.TimeoutExpired:
                        process.kill()
    log.seek(before)
    report = log.read()
    blamed = collections.Counter(NOT_FINISHED.findall(report))
    summary = next((line for line in lines if line.startswith("stopped after")), None)
    if summary is None:  # the bridge stopped on its own: say why
        summary = f"no summary, exit {bridge.returncode}; stderr: {bridge.stderr.read().strip()[-600:]!r}"
    latencies = player.latencies() if player is not None else []
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {cpu_name()}; "
          f"{'one core busy' if args.busy else 'idle'}; jackd -R -d dummy -p {args.period} "
          f"({1000 * args.period / RATE:.1f} ms)")
    print(f"played {args.seconds:.0f} s: {len(latencies)} chords of {len(CHORD)} notes, wheel at {WHEEL_HZ} Hz, "
          f"a program change every {PROGRAM_EVERY_S} s")
    print(f"bridge: {summary.strip()} (PortAudio counts every xrun of the server)")
    if latencies:
        print(f"note-to-sound latency: median {1000 * np.median(latencies):.1f} ms, max {1000 * max(latencies):.1f} ms")
    print(f"player missed periods: {player.gaps if player else '?'}; jackd's timer late: "
          f"{len(DRIVER_LATE.findall(report))} times")
    print("jackd's reports, client = X was not finished: Running (it was late itself) or Triggered (waiting to run)")
    names = ["metro", "jack_simple_client", "jack-cpu", "midi-dump", "midisine", "lts-bench", "lts-bench audio",
             "lts-bench-player"]
    names += sorted({name for name, _ in blamed} - set(names))
    for name in names:
        print(f"  {name:<20}running {blamed[name, 'Running']:>6}   triggered {blamed[name, 'Triggered']:>6}")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
