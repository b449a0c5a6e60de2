"""JACK for the live tests: dummy-driver servers (:func:`start_jackd`, :func:`stop_jackd`),
:class:`JackRig`, a client that plays MIDI into a port and records audio, both stamped with
JACK frame times, and :class:`Bridge`, ``lts-sampler bridge`` run as a user starts it.

The ``jack`` module is imported here only if it loads: without libjack it raises OSError, and the
tests that need it skip (:func:`skip_unless_available`) instead of failing to be collected."""

from __future__ import annotations

import collections
import ctypes.util
import gc
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import mido
import numpy as np
import pytest

try:
    import jack
except (ImportError, OSError) as err:  # JACK-Client not installed, or libjack missing
    jack, JACK_ERROR = None, f"the jack module does not load ({err})"
else:
    JACK_ERROR = None

JACKD_ARGS = ["-R", "-d", "dummy", "-r", "44100", "-p", "256"]
"""A server on the dummy driver (no sound card), with real-time scheduling where allowed (jackd2
carries on without it where it is refused)."""
SYNCHRONOUS = ["-S", "-t", "500"]
"""Synchronous mode: each cycle waits for every client to finish (up to 10 × 0.5 s), so a client
that a busy or throttled machine holds up slows the dummy clock down instead of missing its
period, and what a rig records of it is complete. A client that runs Python in its callback
must then not share its process with one opening a MIDI port: python-rtmidi holds Python's lock
while it waits for the server, which waits for the callback, which waits for the lock."""
INSTALL = "apt-get install jackd2 libportaudio2"
ONSET = 1e-3
"""A note has sounded once a sample exceeds this (−60 dBFS)."""
T = TypeVar("T")


def unavailable() -> str | None:
    """Why the live tests cannot run here (jackd, libjack or PortAudio missing), or None."""
    if shutil.which("jackd") is None:
        return "jackd is not installed"
    if JACK_ERROR:
        return JACK_ERROR
    if importlib.util.find_spec("sounddevice") is None:
        return "sounddevice is not installed"
    # Not imported to check: PortAudio names its JACK client once, as sounddevice loads it.
    if ctypes.util.find_library("portaudio") is None:
        return "PortAudio is not installed"
    return None


def skip_unless_available() -> None:
    """Skip the test, in one line naming the Debian packages, unless JACK and PortAudio are here."""
    if reason := unavailable():
        pytest.skip(f"needs JACK and PortAudio ({INSTALL}): {reason}")


def server_running(name: str) -> bool:
    """Whether the JACK server ``name`` serves clients."""
    try:
        jack.Client("lts-probe", servername=name, no_start_server=True).close()
    except jack.JackOpenError:
        return False
    return True


def start_jackd(name: str, *, synchronous: bool = False, timeout: float = 60) -> subprocess.Popen:
    """A dummy-driver JACK server named ``name`` (in :data:`SYNCHRONOUS` mode if asked), once it
    serves; the test skips where JACK is not installed and fails, with jackd's output, if it
    does not start."""
    skip_unless_available()
    command = ["jackd", "-n", name, *(SYNCHRONOUS if synchronous else []), *JACKD_ARGS]
    with tempfile.TemporaryFile("w+") as output:  # not a pipe: a full pipe would block the server
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        while not server_running(name):
            if server.poll() is not None or time.monotonic() > deadline:
                stop_jackd(server)
                output.seek(0)
                pytest.fail(f"{' '.join(command)} did not start: {output.read().strip()[-500:]}")
            time.sleep(0.1)
    return server


def stop_jackd(server: subprocess.Popen) -> None:
    """Stop a server from :func:`start_jackd`: SIGTERM, and SIGKILL if it has not exited within
    10 s (jackd sometimes ignores SIGTERM)."""
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def connections(port: str) -> list[str]:
    """The names of the ports connected to ``port``."""
    probe = jack.Client("lts-probe", no_start_server=True)
    try:
        return [other.name for other in probe.get_all_connections(port)]
    finally:
        probe.close()


def note_on(note: int) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=100)


def note_off(note: int) -> mido.Message:
    return mido.Message("note_off", note=note)


def wheel(value: int, control: int = 1) -> mido.Message:
    return mido.Message("control_change", control=control, value=value)


def program(number: int) -> mido.Message:
    return mido.Message("program_change", program=number)


class Gap(AssertionError):
    """The recording missed a period: JACK skipped a cycle (an xrun on a busy machine; on a
    :data:`SYNCHRONOUS` server, only after a stall of seconds)."""


def despite_xruns(take: Callable[[], T], tries: int = 10) -> T:
    """``take()``, again while it raises :class:`Gap` (JACK dropped a period of the recording, as
    busy machines do: there is nothing to judge), ``tries`` times at most."""
    for _ in range(tries - 1):
        try:
            return take()
        except Gap:
            pass
    return take()


def _realtime_thread() -> tuple[int, os.sched_param] | None:
    """Run the calling thread at the lowest real-time priority where that is allowed (its
    children as before): it holds Python's lock between its sleeps, which the rig's callback
    waits for, and a busy core must not stop it meanwhile. The scheduling before, or None."""
    try:
        before = os.sched_getscheduler(0), os.sched_getparam(0)
        os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(1))
    except (AttributeError, OSError):
        return None
    return before


class JackRig:
    """A JACK client of ``server`` (else the default one) that plays MIDI into ``midi_port`` and
    records ``audio_ports``.

    Its process callback writes the queued MIDI at the start of the period and keeps a copy of
    each audio input's buffer with the period's frame time. While it plays, the objects the
    test process holds are frozen out of Python's garbage collector, whose full collections
    over them would stall the callback past the period, and Python switches threads every
    0.5 ms, not 5, and the thread that made the rig runs at a real-time priority (where that is
    allowed): the callback waits less for the interpreter than a period lasts. It is ready once
    it has recorded a few periods.
    """

    def __init__(self, name: str, *, midi_port: str, audio_ports: list[str], server: str | None = None):
        gc.freeze()
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        self._scheduling = _realtime_thread()
        self.client = jack.Client(name, servername=server, no_start_server=True)
        self.rate = self.client.samplerate
        self._midi = self.client.midi_outports.register("midi_out")
        self._inputs = [self.client.inports.register(f"in_{i}") for i in range(len(audio_ports))]
        self._pending: collections.deque[tuple[list[bytes], list[int], threading.Event]] = collections.deque()
        self._blocks: list[tuple[int, np.ndarray]] = []
        self.client.set_process_callback(self._process)
        self.client.activate()
        self.client.connect(self._midi, midi_port)
        for source, own in zip(audio_ports, self._inputs):
            self.client.connect(source, own)
        deadline = time.monotonic() + 10
        while len(self._blocks) < 4:
            assert time.monotonic() < deadline, "JACK runs no cycles"
            time.sleep(0.01)

    def send(self, *messages: mido.Message) -> int:
        """Play ``messages`` at the start of the next period; its frame time once played."""
        return self.send_raw([m.bin() for m in messages])

    def send_raw(self, events: list[bytes]) -> int:
        """Play ``events`` (raw bytes, one JACK MIDI event each) at the start of the next
        period; its frame time once played."""
        played: list[int] = []
        done = threading.Event()
        self._pending.append((events, played, done))
        done.wait()
        return played[0]

    def audio(self, start: int, stop: int, *, timeout: float = 5) -> np.ndarray:
        """The recording of frames ``start`` to ``stop``: [frames, channels] float32, once
        recorded (waiting for it up to ``timeout`` seconds longer than the frames take to play)."""
        deadline = time.monotonic() + timeout + max(0, stop - self.client.frame_time) / self.rate
        while not self._blocks or self._blocks[-1][0] + len(self._blocks[-1][1]) < stop:
            assert time.monotonic() < deadline, f"frames up to {stop} not recorded in time: JACK stalled"
            time.sleep(0.01)
        recorded = list(self._blocks)
        assert recorded[0][0] <= start, f"frame {start} was played before the recording began"
        blocks = [(t, b) for t, b in recorded if t + len(b) > start and t < stop]
        if blocks[0][0] > start:
            raise Gap(f"frame {start} was not recorded (a JACK xrun)")
        first, size = blocks[0][0], len(blocks[0][1])
        if [t for t, _ in blocks] != list(range(first, first + len(blocks) * size, size)):
            raise Gap(f"frames {start}–{stop} were not all recorded (a JACK xrun)")
        return np.concatenate([b for _, b in blocks])[start - first : stop - first]

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()
        gc.unfreeze()
        sys.setswitchinterval(self._switch_interval)
        if self._scheduling is not None:
            os.sched_setscheduler(0, *self._scheduling)

    def _process(self, frames: int) -> None:
        self._midi.clear_buffer()
        while self._pending:
            messages, played, done = self._pending.popleft()
            for data in messages:
                self._midi.write_midi_event(0, data)
            played.append(self.client.last_frame_time)
            done.set()
        self._blocks.append((self.client.last_frame_time, np.stack([p.get_array() for p in self._inputs], axis=1)))


class RigProcess:
    """A :class:`JackRig` of the server ``server``, in a process of its own (``support/rig.py``):
    any server, whichever one the tests' process is a client of. The same ``send``,
    ``send_raw``, ``audio``, ``rate`` and ``close``."""

    def __init__(self, name: str, *, server: str, midi_port: str, audio_ports: list[str]):
        tests = Path(__file__).resolve().parents[1]
        self._folder = tempfile.TemporaryDirectory()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "support.rig", server, name, midi_port, *audio_ports],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")])})
        ready = self.process.stdout.readline().split()
        assert ready[:1] == ["ready"], f"the rig did not start (exit {self.process.poll()})"
        self.rate = int(ready[1])

    def send(self, *messages: mido.Message) -> int:
        """Play ``messages`` at the start of the next period; its frame time once played."""
        return self.send_raw([m.bin() for m in messages])

    def send_raw(self, events: list[bytes]) -> int:
        """Play ``events`` (raw bytes, one JACK MIDI event each) at the start of the next
        period; its frame time once played."""
        return int(self._ask("send", *(event.hex() for event in events)))

    def audio(self, start: int, stop: int) -> np.ndarray:
        """The recording of frames ``start`` to ``stop``: [frames, channels] float32."""
        path = Path(self._folder.name) / "audio.npy"
        answer = self._ask("audio", str(start), str(stop), str(path))
        if answer.startswith("gap "):
            raise Gap(answer.removeprefix("gap "))
        assert answer == "ok", answer.removeprefix("fail ")
        return np.load(path)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self._folder.cleanup()

    def _ask(self, *words: str) -> str:
        self.process.stdin.write(" ".join(words) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline().strip()
        assert answer, f"the rig exited ({self.process.poll()})"
        return answer


class Bridge:
    """``lts-sampler bridge --midi-api jack`` over the kits in ``kits``, a client of the JACK
    server ``server``, as a subprocess, its stdout lines collected."""

    def __init__(self, kits: Path, name: str, *, server: str):
        self.name, self.server = name, server
        self._stderr = tempfile.TemporaryFile("w+")  # not a pipe: a full pipe would block the bridge
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lts_sampler.faces.cli", "bridge", "--kits", str(kits), "--midi-api", "jack",
             "--name", name], stdout=subprocess.PIPE, stderr=self._stderr, text=True,
            env={**os.environ, "JACK_DEFAULT_SERVER": server})
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(line.rstrip("\n") for line in self.process.stdout))
        self._reader.start()
        try:
            self.wait_for("ready:", timeout=120)
        except BaseException:  # pytest.fail's exception too
            self.stop(signal.SIGKILL)
            raise

    def rig(self, name: str) -> RigProcess:
        """A rig playing into this bridge's MIDI port and recording its two audio ports."""
        return RigProcess(name, server=self.server, midi_port=f"{self.name}:{self.name}",
                          audio_ports=[f"{self.name} audio:out_0", f"{self.name} audio:out_1"])

    def wait_for(self, text: str, *, after: int = 0, timeout: float = 10) -> str:
        """The first line from index ``after`` on that contains ``text``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines[after:] if text in line]
            if found:
                return found[0]
            if self.process.poll() is not None:
                break
            time.sleep(0.01)
        pytest.fail(f"bridge never printed {text!r}; stdout: {self.lines[-5:]}, exit {self.process.poll()}")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        """Signal the bridge; its exit status and stderr once it has exited."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.wait()

    def wait(self, timeout: float = 60) -> tuple[int, str]:
        """The bridge's exit status and stderr once it has exited (killed if it has not within ``timeout`` s)."""
        try:
            status = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self._reader.join()
        self._stderr.seek(0)
        return status, self._stderr.read()
