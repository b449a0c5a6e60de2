"""Live playing through a real JACK server (the dummy driver: no sound card needed).

``lts-sampler bridge`` runs as a subprocess, as a user starts it; a JACK client in the test
process (:class:`JackRig`) plays MIDI into its port and records its audio ports. MIDI and audio
are stamped with JACK frame times, so note-on → sound is measured on one clock.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jack
import mido
import numpy as np
import pytest
import soundfile as sf
from jack_fixtures import JACKD, Gap, JackRig, jack_server, server_realtime  # noqa: F401 (a fixture)

from lts_sampler.kit import RELEASE_S

pytestmark = pytest.mark.usefixtures("jack_server")

ONSET = 1e-3
"""A note has sounded once a sample exceeds this (−60 dBFS)."""
MAX_LATENCY_S = 0.020


def note_on(note: int) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=100)


def note_off(note: int) -> mido.Message:
    return mido.Message("note_off", note=note)


def wheel(value: int, control: int = 1) -> mido.Message:
    return mido.Message("control_change", control=control, value=value)


def program(number: int) -> mido.Message:
    return mido.Message("program_change", program=number)


def lts_sampler(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lts_sampler.cli", *args], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def kits(tmp_path_factory) -> Path:
    """Three demo kits: 0 = a-keys (keys C4–G#4), 1 = b-morph (every key, CC1 morphs),
    2 = c-grid (a 3 × 3 pad of 0.6 s samples, CC1 moves X and CC2 Y)."""
    folder = tmp_path_factory.mktemp("kits")
    for name, args in (("a-keys", ["--mode", "keys"]), ("b-morph", ["--mode", "morph"]),
                       ("c-grid", ["--grid", "3", "--quality", "draft", "--duration", "0.6"])):
        done = lts_sampler("render", "--demo", *args, "-o", str(folder / name))
        assert done.returncode == 0, done.stderr
    return folder


class Bridge:
    """``lts-sampler bridge --midi-api jack`` as a subprocess, its stdout lines collected."""

    def __init__(self, kits: Path, name: str):
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lts_sampler.cli", "bridge", "--kits", str(kits), "--midi-api", "jack",
             "--name", name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(line.rstrip("\n") for line in self.process.stdout))
        self._reader.start()
        self.wait_for("ready:", timeout=60)

    def rig(self, name: str) -> JackRig:
        """A rig playing into this bridge's MIDI port and recording its two audio ports."""
        return JackRig(name, midi_port=f"{self.name}:{self.name}",
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
        """Signal the bridge; its exit status and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        status = self.process.wait(timeout=20)
        self._reader.join()
        return status, self.process.stderr.read()


@pytest.fixture(scope="class")
def bridge(kits):
    running = Bridge(kits, f"LTS test {os.getpid()}")
    yield running
    running.stop()


@pytest.fixture(scope="class")
def rig(bridge):
    playing = bridge.rig(f"lts-test-rig-{os.getpid()}")
    time.sleep(0.1)  # some audio recorded before the first note
    yield playing
    playing.close()


def play(rig: JackRig, note: int, *, hold: float = 0.3, then: float = RELEASE_S + 0.15) -> tuple[int, int]:
    """Hold ``note`` for ``hold`` s and wait ``then`` s after its note-off: (on, off) frame times."""
    on = rig.send(note_on(note))
    time.sleep(hold)
    off = rig.send(note_off(note))
    time.sleep(then)
    return on, off


def recorded_note(rig: JackRig, note: int, frames: int = 16384) -> np.ndarray:
    """The first ``frames`` of output after ``note``'s note-on; played once more if JACK
    skipped a cycle of the recording (:class:`Gap`)."""
    on, _ = play(rig, note)
    try:
        return rig.audio(on, on + frames)[:, 0]
    except Gap:
        on, _ = play(rig, note)
        return rig.audio(on, on + frames)[:, 0]


def sounded(audio: np.ndarray) -> np.ndarray:
    """``audio`` [frames] from its first sample above :data:`ONSET`."""
    loud = np.flatnonzero(np.abs(audio) > ONSET)
    assert loud.size, "no sound"
    return audio[loud[0]:]


def cell_samples(kit: Path) -> dict[tuple[int, int], np.ndarray]:
    """A grid kit's sample of each cell (i, j)."""
    manifest = json.loads((kit / "kit.json").read_text())
    return {tuple(manifest["layers"][r["layer"]]["cell"]): sf.read(kit / "samples" / r["sample"], dtype="float32")[0]
            for r in manifest["regions"]}


def likeness(take: np.ndarray, sample: np.ndarray, frames: int = 8192) -> float:
    """How alike a recording ``take`` (from a note-on) and a sample's first ``frames`` are: the
    peak of their normalised cross-correlation within ``take``'s first 4096 frames (latency).
    By FFT, in short steps: a long one would hold Python's lock past the rig's JACK period."""
    sample = sample[:frames].astype(np.float64)
    window = take[: frames + 4096].astype(np.float64)
    n = len(window) + frames
    correlation = np.fft.irfft(np.fft.rfft(window, n) * np.conj(np.fft.rfft(sample, n)), n)[: len(window) - frames + 1]
    power = np.concatenate([[0.0], np.cumsum(window**2)])
    energy = np.sqrt(np.maximum(power[frames:] - power[:-frames], 0.0))  # of each window of ``frames``
    return float(np.max(correlation / (energy * np.linalg.norm(sample) + 1e-12)))


def sounding_cell(take: np.ndarray, cells: dict[tuple[int, int], np.ndarray]) -> tuple[int, int]:
    """The cell whose sample ``take`` is, which must be unmistakable."""
    scores = {cell: likeness(take, sample) for cell, sample in cells.items()}
    best = max(scores, key=scores.get)
    assert scores[best] > 0.99, scores
    return best


def spectrum_distance(a: np.ndarray, b: np.ndarray, frames: int = 8192) -> float:
    """Total variation distance between the normalised magnitude spectra of the first
    ``frames`` sounding samples of ``a`` and ``b``: 0 for the same sound, towards 1 for sounds
    with no spectrum in common."""
    def spectrum(x):
        x = sounded(x)[:frames]
        magnitude = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=frames))
        return magnitude / magnitude.sum()
    return 0.5 * float(np.abs(spectrum(a) - spectrum(b)).sum())


@pytest.mark.parametrize("args, words", [
    (["play", "{kit}", "--midi-api", "jack", "--midi-in", "no-such-port"], ["no-such-port", "lts-test keyboard"]),
    (["play", "{kit}", "--midi-api", "jack", "--output", "no-such-device"], ["no-such-device", "render-midi"]),
    (["play", "{empty}", "--midi-api", "jack"], ["kit.json"]),
    (["bridge", "--kits", "{empty}", "--midi-api", "jack"], ["no kits", "render"]),
])
def test_bad_input_produces_helpful_error_message(kits, tmp_path, args, words):
    keyboard = mido.Backend("mido.backends.rtmidi/UNIX_JACK").open_output(
        "lts-test keyboard", client_name="lts-test keyboard")
    try:
        args = [a.format(kit=kits / "a-keys", empty=tmp_path) for a in args]
        done = lts_sampler(*args)
    finally:
        keyboard.close()
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("lts-sampler: error: ")
    for word in words:
        assert word in lines[0]


def test_play_prints_the_notes_of_a_keyboard_and_a_summary(kits):
    keyboard = mido.Backend("mido.backends.rtmidi/UNIX_JACK").open_output(
        "lts-test keys", client_name=f"lts-test keys {os.getpid()}")
    player = subprocess.Popen(
        [sys.executable, "-m", "lts_sampler.cli", "play", str(kits / "b-morph"), "--midi-api", "jack",
         "--midi-in", f"lts-test keys {os.getpid()}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "ready: playing b-morph" in player.stdout.readline()
        for message in (note_on(60), note_off(60), note_on(69)):
            keyboard.send(message)
        assert player.stdout.readline().strip() == "note C4 (60) vel 100"
        assert player.stdout.readline().strip() == "note A4 (69) vel 100"
    finally:
        keyboard.close()
        player.send_signal(signal.SIGINT)
        out, err = player.communicate(timeout=20)
    assert player.returncode == 0, err
    assert out.startswith("stopped after") and "2 notes, underruns: " in out


class TestBridge:
    """One bridge, played by one rig, test after test; the last one stops it."""

    def test_notes_sound_within_20_ms_and_stop_after_the_release(self, bridge, rig):
        rig.send(program(0))
        notes = {note: play(rig, note) for note in (60, 62, 64, 66, 68)}
        rate, latencies = rig.rate, []
        for note, (on, off) in notes.items():
            audio = rig.audio(on - 512, off + int((RELEASE_S + 0.1) * rate))
            assert np.array_equal(audio[:, 0], audio[:, 1]), "mono on both channels"
            audio = audio[512:, 0]
            assert not np.any(audio[: int(0.002 * rate)]), f"note {note} sounded before its note-on"
            onset = int(np.flatnonzero(np.abs(audio) > ONSET)[0])
            latencies.append(onset / rate)
            released = off - on + int(MAX_LATENCY_S * rate)
            assert np.abs(audio[onset:released]).max() > 0.1, f"note {note} faded while held"
            assert np.abs(audio[released : released + int(0.1 * rate)]).max() > ONSET, f"note {note} cut off, no release"
            assert not np.any(audio[released + int(RELEASE_S * rate):]), f"note {note} still sounds after its release"
        print(f"note-on → sound: {', '.join(f'{1000 * t:.1f}' for t in latencies)} ms")
        assert max(latencies) < MAX_LATENCY_S, latencies

    def test_program_change_selects_a_kit_and_ignores_a_missing_one(self, bridge, rig):
        rig.send(program(0))
        on, _ = play(rig, 64)
        keys = rig.audio(on, on + 16384)[:, 0]
        mark = len(bridge.lines)
        rig.send(program(1))
        bridge.wait_for("kit 1: b-morph", after=mark)
        on, _ = play(rig, 64)
        morph = rig.audio(on, on + 16384)[:, 0]
        rig.send(program(9))  # there is no kit 9: still b-morph
        on, _ = play(rig, 64)
        again = rig.audio(on, on + 16384)[:, 0]
        assert spectrum_distance(keys, morph) > 0.3
        assert spectrum_distance(morph, again) < 0.01
        assert not any("kit 9" in line for line in bridge.lines[mark:])

    def test_mod_wheel_morphs_the_morph_kit(self, bridge, rig):
        rig.send(program(1))
        takes = {}
        for value in (0, 127, 0):
            rig.send(wheel(value))
            on, _ = play(rig, 60)
            takes.setdefault(value, []).append(rig.audio(on, on + 16384)[:, 0])
        assert spectrum_distance(takes[0][0], takes[127][0]) > 0.3
        assert spectrum_distance(takes[0][0], takes[0][1]) < 0.01

    def test_a_kit_rendered_again_plays_on_the_next_note(self, bridge, rig, kits):
        rig.send(program(0))
        on, _ = play(rig, 60)
        before = rig.audio(on, on + 16384)[:, 0]
        done = lts_sampler("render", "--demo", "--alphas", "1.5", "-o", str(kits / "a-keys"))
        assert done.returncode == 0, done.stderr
        mark = len(bridge.lines)
        on, _ = play(rig, 60)
        after = rig.audio(on, on + 16384)[:, 0]
        bridge.wait_for("kit 0: a-keys (keys) reloaded", after=mark)
        assert spectrum_distance(before, after) > 0.3

    def test_the_grid_kit_plays_the_cell_its_two_controllers_choose(self, bridge, rig, kits):
        mark = len(bridge.lines)
        rig.send(program(2))
        bridge.wait_for("kit 2: c-grid (grid, 3 × 3 pad, X on CC1, Y on CC2)", after=mark)
        cells = cell_samples(kits / "c-grid")
        for x, y, cell in ((0, 0, (0, 0)), (0, 127, (0, 2)), (127, 64, (2, 1))):
            mark = len(bridge.lines)
            rig.send(wheel(x), wheel(y, control=2))
            assert sounding_cell(recorded_note(rig, 60), cells) == cell
            if (x, y) != (0, 0):  # where the earlier tests left the controllers
                bridge.wait_for(f"pad g{cell[0]}-{cell[1]}: ", after=mark)
        assert bridge.wait_for("pad g2-1: ").endswith("x 1.00 y 0.50 (CC1 127, CC2 64)")

    def test_bridge_stops_on_sigint_with_a_summary(self, bridge):
        status, stderr = bridge.stop(signal.SIGINT)
        assert status == 0, stderr
        assert "underruns: " in bridge.lines[-1] and "Traceback" not in stderr


class Terminal:
    """A pseudo-terminal that a subprocess runs in, as its controlling terminal (util-linux
    ``setsid --ctty``): what the subprocess prints is read from it line by line, and keys are
    typed into it."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        self.settings = termios.tcgetattr(self.slave)
        self.process: subprocess.Popen | None = None
        self._pending = b""

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """Run ``args`` (its process: not a group leader, so ``setsid`` execs it in place)."""
        self.process = subprocess.Popen(["setsid", "--ctty", *args], stdin=self.slave, stdout=self.slave,
                                        stderr=subprocess.PIPE, text=True, env=env)
        return self.process

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def line(self, start: str = "", timeout: float = 30) -> str:
        """The next line printed that starts with ``start``, without its end."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" not in self._pending:
                assert time.monotonic() < deadline, f"no line starting {start!r} printed; so far: {self._pending!r}"
                if select.select([self.master], [], [], 0.1)[0]:
                    self._pending += os.read(self.master, 4096)
                elif self.process.poll() is not None:
                    pytest.fail(f"exited {self.process.returncode} before a line starting {start!r}: "
                                f"{self.process.stderr.read()}")
            line, self._pending = self._pending.split(b"\n", 1)
            if line.decode().startswith(start):
                return line.decode().rstrip("\r")

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


def test_play_moves_a_grid_kits_pad_with_the_arrow_keys_and_restores_the_terminal(kits):
    if shutil.which("setsid") is None:
        pytest.skip("util-linux setsid runs play in a pseudo-terminal; it is not installed")
    client = f"lts-test pad {os.getpid()}"
    keyboard = mido.Backend("mido.backends.rtmidi/UNIX_JACK").open_output("keys", client_name=client)
    terminal = Terminal()
    player = terminal.start(sys.executable, "-m", "lts_sampler.cli", "play", str(kits / "c-grid"), "--midi-api", "jack",
                            "--midi-in", client)
    rig = None
    try:
        assert terminal.line().startswith("ready: playing c-grid")
        assert terminal.line() == "3 × 3 pad, X on CC1, Y on CC2; arrows move the pad"
        assert terminal.line() == "pad g0-0: x 0.00 y 0.00 (CC1 0, CC2 0)"
        assert not termios.tcgetattr(terminal.slave)[3] & (termios.ICANON | termios.ECHO), "not in cbreak mode"
        probe = jack.Client(f"lts-test probe {os.getpid()}", no_start_server=True)
        play_input = probe.get_all_connections(f"{client}:keys")[0].name  # the port play reads the keyboard from
        probe.close()
        cells = cell_samples(kits / "c-grid")
        rig = JackRig(f"lts-test pad rig {os.getpid()}", midi_port=play_input, audio_ports=["lts-sampler:out_0"])
        on, _ = play(rig, 60)
        assert sounding_cell(rig.audio(on, on + 16384)[:, 0], cells) == (0, 0)
        for arrow, line, cell in ((b"\x1b[C", "pad g1-0: x 0.50 y 0.00 (CC1 64, CC2 0)", None),
                                  (b"\x1b[A", "pad g1-1: x 0.50 y 0.50 (CC1 64, CC2 64)", (1, 1)),
                                  (b"\x1b[A", "pad g1-2: x 0.50 y 1.00 (CC1 64, CC2 127)", None),
                                  (b"\x1b[A", "pad g1-2: x 0.50 y 1.00 (CC1 64, CC2 127)", None),  # the edge
                                  (b"\x1bOD", "pad g0-2: x 0.00 y 1.00 (CC1 0, CC2 127)", (0, 2))):
            terminal.type(arrow)
            assert terminal.line("pad") == line
            if cell is not None:  # and a note sounds there
                on, _ = play(rig, 60)
                assert sounding_cell(rig.audio(on, on + 16384)[:, 0], cells) == cell
        keyboard.send(wheel(100, control=2))  # a keyboard's controller moves the pad too: printed once its cell changes
        keyboard.send(wheel(80, control=2))
        assert terminal.line("pad") == "pad g0-1: x 0.00 y 0.50 (CC1 0, CC2 80)"
        terminal.type(b"\x03")  # Ctrl-C
        status = player.wait(timeout=20)
    finally:
        if rig is not None:
            rig.close()
        keyboard.close()
        if player.poll() is None:
            player.kill()
    try:
        assert status == 0, player.stderr.read()
        assert terminal.line("stopped after")
        assert termios.tcgetattr(terminal.slave) == terminal.settings, "the terminal was left in cbreak mode"
    finally:
        terminal.close()


def test_thirty_seconds_of_playing_without_underruns(kits, tmp_path):
    """A note every 100 ms for 30 s, three sounding at once, the mod wheel moving: no underrun.

    Only the bridge runs Python in JACK's cycle here: the keyboard is rtmidi's JACK client and
    the recorder jackd2's ``jack_rec``."""
    if shutil.which("jack_rec") is None:
        pytest.skip("jack_rec (Debian jackd2) records the soak; it is not installed")
    soak = Bridge(kits, f"LTS soak {os.getpid()}")
    recording = tmp_path / "soak.wav"
    recorder = subprocess.Popen(["jack_rec", "-f", str(recording), "-d", "31", "-b", "24", f"{soak.name} audio:out_0"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    keyboard = mido.Backend("mido.backends.rtmidi/UNIX_JACK").open_output(f"{soak.name}:{soak.name}")
    try:
        keyboard.send(program(1))
        notes = [48 + (7 * i) % 36 for i in range(300)]
        start = time.monotonic()
        for i, note in enumerate(notes):
            time.sleep(max(0.0, start + 0.1 * i - time.monotonic()))
            if i >= 3:
                keyboard.send(note_off(notes[i - 3]))
            keyboard.send(wheel(i % 128))
            keyboard.send(note_on(note))
        time.sleep(0.3)
    finally:
        keyboard.close()
        status, stderr = soak.stop(signal.SIGTERM)
        recorder.wait(timeout=10)
    print(soak.lines[-1])
    assert status == 0, stderr
    assert soak.lines[-1].startswith("stopped after") and "300 notes" in soak.lines[-1]
    assert "underruns: 0" in soak.lines[-1], f"JACK server real-time (jackd -R): {server_realtime()}"
    audio, _ = sf.read(recording, dtype="float32")
    loud = np.abs(audio[: len(audio) // 256 * 256]).reshape(-1, 256).max(axis=1) > ONSET
    sounding = np.flatnonzero(loud)
    assert (sounding[-1] - sounding[0]) * 256 > 29.5 * 44100 and loud[sounding[0] : sounding[-1]].all(), "gaps"


@contextlib.contextmanager
def own_jack_server(name: str) -> Iterator[subprocess.Popen]:
    """A dummy JACK server named ``name`` for one test to stop, killed afterwards in any case."""
    server = subprocess.Popen(["jackd", "-n", name, *JACKD[1:]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        waited = subprocess.run(["jack_wait", "-s", name, "-w", "-t", "15"], capture_output=True, check=False)
        assert waited.returncode == 0, "jackd did not start"
        yield server
    finally:
        server.kill()


def test_the_bridge_ends_promptly_when_its_jack_server_quits(kits):
    """PortAudio cannot close once the JACK server has gone (it waits ten minutes for it):
    the bridge says what happened and exits without asking it to."""
    name = f"lts-bridge-quits-{os.getpid()}"
    bridge = None
    with own_jack_server(name) as server:
        try:
            bridge = subprocess.Popen(
                [sys.executable, "-m", "lts_sampler.cli", "bridge", "--kits", str(kits), "--midi-api", "jack",
                 "--name", name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env={**os.environ, "JACK_DEFAULT_SERVER": name})
            assert bridge.stdout.readline().startswith("ready:")
            server.terminate()
            server.wait(10)
            _, err = bridge.communicate(timeout=30)
        finally:
            if bridge is not None and bridge.poll() is None:
                bridge.kill()
    assert bridge.returncode == 1
    assert "the audio stream stopped" in err and "Traceback" not in err


KEYBOARD = """import mido, sys, time
port = mido.Backend("mido.backends.rtmidi/UNIX_JACK").open_output("keys", client_name=sys.argv[1])
print("open", flush=True)
time.sleep(60)
"""
"""A MIDI keyboard in a process of its own, as a JACK client named by its argument."""


def test_play_restores_the_terminal_when_its_jack_server_quits(kits):
    if shutil.which("setsid") is None:
        pytest.skip("util-linux setsid runs play in a pseudo-terminal; it is not installed")
    name = f"lts-play-quits-{os.getpid()}"
    env = {**os.environ, "JACK_DEFAULT_SERVER": name}
    terminal = Terminal()
    with own_jack_server(name) as server:
        keyboard = subprocess.Popen([sys.executable, "-c", KEYBOARD, f"{name} keys"], stdout=subprocess.PIPE, text=True,
                                    env=env)  # not named as the server: closing, it would take the server's socket
        player = None
        try:
            assert keyboard.stdout.readline() == "open\n"
            player = terminal.start(sys.executable, "-m", "lts_sampler.cli", "play", str(kits / "c-grid"),
                                    "--midi-api", "jack", "--midi-in", f"{name} keys", env=env)
            assert terminal.line("pad") == "pad g0-0: x 0.00 y 0.00 (CC1 0, CC2 0)"
            server.terminate()
            server.wait(10)
            status = player.wait(timeout=30)
        finally:
            keyboard.kill()
            if player is not None and player.poll() is None:
                player.kill()
    try:
        assert status == 1 and "the audio stream stopped" in player.stderr.read()
        assert termios.tcgetattr(terminal.slave) == terminal.settings, "the terminal was left in cbreak mode"
    finally:
        terminal.close()
