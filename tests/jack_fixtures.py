"""JACK for the live tests: a server (the running one, or a dummy one started for the session)
and :class:`JackRig`, a client that plays MIDI into a port and records audio, both stamped with
JACK frame times so that latencies are counted on one clock."""

from __future__ import annotations

import collections
import gc
import shutil
import subprocess
import threading
import time

import jack
import mido
import numpy as np
import pytest

JACKD = ["jackd", "-R", "-d", "dummy", "-r", "44100", "-p", "256"]
"""Real-time scheduling where allowed (jackd2 carries on without it where it is refused): without
it, on two busy cores, every client sees xruns."""


def server_running() -> bool:
    try:
        jack.Client("lts-probe", no_start_server=True).close()
    except jack.JackOpenError:
        return False
    return True


def server_realtime() -> bool:
    """Whether the running server schedules its clients in real time (``jackd -R``)."""
    probe = jack.Client("lts-probe", no_start_server=True)
    try:
        return probe.realtime
    finally:
        probe.close()


@pytest.fixture(scope="session")
def jack_server():
    """The JACK server already running, else a dummy-driver server (no sound card) for the session."""
    if server_running():
        yield
        return
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (apt-get install jackd2): the live tests play through a JACK server")
    server = subprocess.Popen(JACKD, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 15
    while not server_running():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"{' '.join(JACKD)} did not start: {server.communicate()[1].strip()[-500:]}")
        time.sleep(0.1)
    yield
    server.terminate()
    server.wait(10)


class Gap(AssertionError):
    """The recording missed a period: JACK skipped a cycle (an xrun on a busy machine)."""


class JackRig:
    """A JACK client that plays MIDI into ``midi_port`` and records ``audio_ports``.

    Its process callback writes the queued MIDI at the start of the period and keeps a copy of
    each audio input's buffer with the period's frame time. While it plays, the objects the
    test process holds are frozen out of Python's garbage collector, whose full collections
    over them would stall the callback past the period.
    """

    def __init__(self, name: str, *, midi_port: str, audio_ports: list[str]):
        gc.freeze()
        self.client = jack.Client(name, no_start_server=True)
        self.rate = self.client.samplerate
        self.xruns = 0
        self._midi = self.client.midi_outports.register("midi_out")
        self._inputs = [self.client.inports.register(f"in_{i}") for i in range(len(audio_ports))]
        self._pending: collections.deque[tuple[list[bytes], list[int], threading.Event]] = collections.deque()
        self._blocks: list[tuple[int, np.ndarray]] = []
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.activate()
        self.client.connect(self._midi, midi_port)
        for source, own in zip(audio_ports, self._inputs):
            self.client.connect(source, own)

    def send(self, *messages: mido.Message) -> int:
        """Play ``messages`` at the start of the next period; its frame time once played."""
        played: list[int] = []
        done = threading.Event()
        self._pending.append(([m.bin() for m in messages], played, done))
        done.wait()
        return played[0]

    def audio(self, start: int, stop: int) -> np.ndarray:
        """The recording of frames ``start`` to ``stop``: [frames, channels] float32."""
        blocks = [(t, b) for t, b in list(self._blocks) if t + len(b) > start and t < stop]
        assert blocks and blocks[0][0] <= start and blocks[-1][0] + len(blocks[-1][1]) >= stop, "not recorded yet"
        first = blocks[0][0]
        times = [t for t, _ in blocks]
        if times != list(range(first, first + len(blocks) * len(blocks[0][1]), len(blocks[0][1]))):
            raise Gap(f"frames {start}–{stop} were not all recorded (a JACK xrun)")
        return np.concatenate([b for _, b in blocks])[start - first : stop - first]

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()
        gc.unfreeze()

    def _process(self, frames: int) -> None:
        self._midi.clear_buffer()
        while self._pending:
            messages, played, done = self._pending.popleft()
            for data in messages:
                self._midi.write_midi_event(0, data)
            played.append(self.client.last_frame_time)
            done.set()
        self._blocks.append((self.client.last_frame_time, np.stack([p.get_array() for p in self._inputs], axis=1)))

    def _xrun(self, delay_us: float) -> None:
        self.xruns += 1
