"""Live playing through real JACK servers (the dummy driver: no sound card needed).

``lts-sampler bridge`` and ``play`` run as subprocesses, as a user starts them, on the session's
synchronous server; a JACK client in a process of its own (:class:`RigProcess`) plays MIDI into
their ports and records their audio ports. MIDI and audio are stamped with JACK frame times, so
what a note played is found in the recording on one clock.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
from support.jack import ONSET, Bridge, RigProcess, note_off, note_on, program, start_jackd, stop_jackd, wheel

from lts_sampler.core.kitformat import RELEASE_S
from lts_sampler.playing.live import note_name

pytestmark = pytest.mark.usefixtures("jack_server")

JITTER_S = 0.1
"""How much later than its note-on's a note-off's effect may come (or earlier): MIDI and audio
meet in the bridge at its own blocks."""


def lts_sampler(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lts_sampler.faces.cli", *args], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def kits(tmp_path_factory, keys_kit, morph_kit, grid_kit) -> Path:
    """Copies of the three demo kits, in program order: a-keys (keys C4–G#4, named "keys"),
    b-morph (every key, CC1 morphs; "morph"), c-grid (a 3 × 3 pad, CC1 moves X and CC2 Y; "grid")."""
    folder = tmp_path_factory.mktemp("kits")
    for name, kit in (("a-keys", keys_kit), ("b-morph", morph_kit), ("c-grid", grid_kit)):
        shutil.copytree(kit, folder / name)
    return folder


@pytest.fixture(scope="class")
def bridge(kits, synchronous_jack_server):
    running = Bridge(kits, f"LTS test {os.getpid()}", server=synchronous_jack_server)
    yield running
    running.stop()


@pytest.fixture(scope="class")
def rig(bridge):
    playing = bridge.rig(f"lts-test-rig-{os.getpid()}")
    yield playing
    playing.close()


def play(rig: RigProcess, note: int, *, hold: float = 0.3, then: float = RELEASE_S + 0.15) -> tuple[int, int]:
    """Hold ``note`` for ``hold`` s and wait ``then`` s after its note-off: (on, off) frame times."""
    on = rig.send(note_on(note))
    time.sleep(hold)
    off = rig.send(note_off(note))
    time.sleep(then)
    return on, off


def recorded_note(rig: RigProcess, note: int, frames: int = 16384) -> np.ndarray:
    """The first ``frames`` of output after ``note``'s note-on."""
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
    peak of their normalised cross-correlation within ``take``'s first 4096 frames (latency)."""
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
        [sys.executable, "-m", "lts_sampler.faces.cli", "play", str(kits / "b-morph"), "--midi-api", "jack",
         "--midi-in", f"lts-test keys {os.getpid()}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "ready: playing morph" in player.stdout.readline()
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

    def test_notes_sound_while_held_and_stop_after_the_release(self, bridge, rig):
        """Each note is silent before its note-on and sounds, the same on both channels, while
        held; after its note-off comes a release tail, then silence. The note-off is heard as long
        after the note-off as the note-on after the note-on, give or take :data:`JITTER_S`."""
        rig.send(program(0))
        rate, hold = rig.rate, 0.3

        for note in (60, 62, 64, 66, 68):
            on = rig.send(note_on(note))
            time.sleep(hold)
            off = rig.send(note_off(note))
            # from 512 frames before the note-on to well after the release (a note that sounds
            # while held is released at most ``hold`` after its note-off)
            audio = rig.audio(on - 512, off + int((hold + RELEASE_S + 2 * JITTER_S) * rate))
            assert np.array_equal(audio[:, 0], audio[:, 1]), "mono on both channels"
            audio = audio[:, 0]
            assert not np.any(audio[:512]), f"note {note} sounded before its note-on"
            loud = np.abs(audio[512 : 512 + off - on]) > ONSET
            assert loud.any(), f"note {note} did not sound while held"
            sounding = 512 + int(np.argmax(loud))
            released = sounding + off - on
            assert np.abs(audio[sounding:released]).max() > 0.1, f"note {note} faded while held"
            assert np.abs(audio[released : released + int(0.1 * rate)]).max() > ONSET, f"note {note} cut off, no release"
            silent = released + int((RELEASE_S + JITTER_S) * rate)
            assert not np.any(audio[silent:]), f"note {note} still sounds after its release"

    def test_program_change_selects_a_kit_and_ignores_a_missing_one(self, bridge, rig):
        rig.send(program(0))
        keys = recorded_note(rig, 64)
        mark = len(bridge.lines)
        rig.send(program(1))
        bridge.wait_for("kit 1: morph (morph)", after=mark)
        morph = recorded_note(rig, 64)
        rig.send(program(9))  # there is no kit 9: still the morph kit
        again = recorded_note(rig, 64)
        assert spectrum_distance(keys, morph) > 0.3
        assert spectrum_distance(morph, again) < 0.01
        assert not any("kit 9" in line for line in bridge.lines[mark:])

    def test_mod_wheel_morphs_the_morph_kit(self, bridge, rig):
        rig.send(program(1))
        takes = {}
        for value in (0, 127, 0):
            rig.send(wheel(value))
            takes.setdefault(value, []).append(recorded_note(rig, 60))
        assert spectrum_distance(takes[0][0], takes[127][0]) > 0.3
        assert spectrum_distance(takes[0][0], takes[0][1]) < 0.01

    def test_a_kit_rendered_again_plays_on_the_next_note(self, bridge, rig, kits):
        rig.send(program(0))
        before = recorded_note(rig, 60)
        mark = len(bridge.lines)
        done = lts_sampler("render", "--demo", "--alphas", "1.5", "--n-iter", "4", "-o", str(kits / "a-keys"))
        assert done.returncode == 0, done.stderr
        bridge.wait_for("kit 0: a-keys (keys) reloaded", after=mark, timeout=60)
        after = recorded_note(rig, 60)
        assert spectrum_distance(before, after) > 0.3

    def test_the_grid_kit_plays_the_cell_its_two_controllers_choose(self, bridge, rig, kits):
        mark = len(bridge.lines)
        rig.send(program(2))
        bridge.wait_for("kit 2: grid (grid, 3 × 3 pad, X on CC1, Y on CC2)", after=mark)
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


def test_play_moves_a_grid_kits_pad_with_the_arrow_keys_and_restores_the_terminal(kits, synchronous_jack_server,
                                                                                  monkeypatch):
    if shutil.which("setsid") is None:
        pytest.skip("util-linux setsid runs play in a pseudo-terminal; it is not installed")
    monkeypatch.setenv("JACK_DEFAULT_SERVER", synchronous_jack_server)  # the keyboard's and play's
    client = f"lts-test pad {os.getpid()}"
    keyboard = mido.Backend("mido.backends.rtmidi/UNIX_JACK").open_output("keys", client_name=client)
    terminal = Terminal()
    player = terminal.start(sys.executable, "-m", "lts_sampler.faces.cli", "play", str(kits / "c-grid"), "--midi-api", "jack",
                            "--midi-in", client)
    rig = None
    try:
        assert terminal.line().startswith("ready: playing grid")
        assert terminal.line() == "3 × 3 pad, X on CC1, Y on CC2; arrows move the pad"
        assert terminal.line() == "pad g0-0: x 0.00 y 0.00 (CC1 0, CC2 0)"
        assert not termios.tcgetattr(terminal.slave)[3] & (termios.ICANON | termios.ECHO), "not in cbreak mode"
        cells = cell_samples(kits / "c-grid")
        rig = RigProcess(f"lts-test pad rig {os.getpid()}", server=synchronous_jack_server,
                         midi_port="lts-sampler midi:in", audio_ports=["lts-sampler:out_0"])  # play's ports
        assert sounding_cell(recorded_note(rig, 60), cells) == (0, 0)
        for arrow, line, cell in ((b"\x1b[C", "pad g1-0: x 0.50 y 0.00 (CC1 64, CC2 0)", None),
                                  (b"\x1b[A", "pad g1-1: x 0.50 y 0.50 (CC1 64, CC2 64)", (1, 1)),
                                  (b"\x1b[A", "pad g1-2: x 0.50 y 1.00 (CC1 64, CC2 127)", None),
                                  (b"\x1b[A", "pad g1-2: x 0.50 y 1.00 (CC1 64, CC2 127)", None),  # the edge
                                  (b"\x1bOD", "pad g0-2: x 0.00 y 1.00 (CC1 0, CC2 127)", (0, 2))):
            terminal.type(arrow)
            assert terminal.line("pad") == line
            if cell is not None:  # and a note sounds there
                assert sounding_cell(recorded_note(rig, 60), cells) == cell
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


@pytest.mark.slow
def test_a_flood_of_notes_with_the_wheel_moving_plays_on(kits, synchronous_jack_server):
    """A note every 100 ms for 10 s, three sounding at once, the mod wheel moving: the bridge
    takes every note, sounds, and stops on SIGTERM with its summary. (How many deadlines a
    machine misses meanwhile is for benchmarks/live.py to count.)"""
    flood = Bridge(kits, f"LTS flood {os.getpid()}", server=synchronous_jack_server)
    rig = flood.rig(f"lts-flood-rig-{os.getpid()}")
    notes = [48 + (7 * i) % 36 for i in range(100)]
    try:
        first = rig.send(program(1))
        for i, note in enumerate(notes):
            mark = len(flood.lines)
            rig.send(*([note_off(notes[i - 3])] if i >= 3 else []), wheel(i % 128), note_on(note))
            time.sleep(0.1)
        last = rig.send(*(note_off(note) for note in notes[-3:]))
        flood.wait_for(f"({notes[-1]}) vel 100", after=mark)
        audio = rig.audio(first, last)
    finally:
        rig.close()
        status, stderr = flood.stop(signal.SIGTERM)
    assert status == 0, stderr
    assert [line for line in flood.lines if line.startswith("note ")] == [
        f"note {note_name(note)} ({note}) vel 100" for note in notes]
    assert flood.lines[-1].startswith("stopped after") and "100 notes" in flood.lines[-1]
    assert np.abs(audio).max() > 0.1, "nothing sounded"


def test_the_bridge_ends_promptly_when_its_jack_server_quits(kits):
    """PortAudio cannot close once the JACK server has gone (it waits ten minutes for it):
    the bridge says what happened and exits without asking it to."""
    name = f"lts-bridge-quits-{os.getpid()}"
    server = start_jackd(name)
    try:
        bridge = Bridge(kits, name, server=name)
        stop_jackd(server)
        status, err = bridge.wait()
    finally:
        stop_jackd(server)
    assert status == 1
    assert "the audio stream stopped" in err and "Traceback" not in err


KEYBOARD = """import mido, sys, time
port = mido.Backend("mido.backends.rtmidi/UNIX_JACK").open_output("keys", client_name=sys.argv[1])
print("open", flush=True)
time.sleep(600)
"""
"""A MIDI keyboard in a process of its own, as a JACK client named by its argument."""


def test_play_restores_the_terminal_when_its_jack_server_quits(kits):
    if shutil.which("setsid") is None:
        pytest.skip("util-linux setsid runs play in a pseudo-terminal; it is not installed")
    name = f"lts-play-quits-{os.getpid()}"
    env = {**os.environ, "JACK_DEFAULT_SERVER": name}
    server = start_jackd(name)
    terminal = Terminal()
    keyboard = subprocess.Popen([sys.executable, "-c", KEYBOARD, f"{name} keys"], stdout=subprocess.PIPE, text=True,
                                env=env)  # not named as the server: closing, it would take the server's socket
    player = None
    try:
        assert keyboard.stdout.readline() == "open\n"
        player = terminal.start(sys.executable, "-m", "lts_sampler.faces.cli", "play", str(kits / "c-grid"),
                                "--midi-api", "jack", "--midi-in", f"{name} keys", env=env)
        assert terminal.line("pad") == "pad g0-0: x 0.00 y 0.00 (CC1 0, CC2 0)"
        stop_jackd(server)
        status = player.wait(timeout=60)
    finally:
        keyboard.kill()
        if player is not None and player.poll() is None:
            player.kill()
        stop_jackd(server)
    try:
        assert status == 1 and "the audio stream stopped" in player.stderr.read()
        assert termios.tcgetattr(terminal.slave) == terminal.settings, "the terminal was left in cbreak mode"
    finally:
        terminal.close()
