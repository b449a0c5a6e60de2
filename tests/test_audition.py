"""The terminal UI's sound through a real JACK server (the dummy driver: no sound card needed).

One :class:`Audition` plays into JACK, listening to a virtual MIDI keyboard; a :class:`JackRig`
records its two audio ports. Sounds are found in the recording by JACK frame time, taken again
where JACK dropped a period of it (an xrun, on a busy machine); wall-clock waits only bound how
long a test may take. Without JACK, or once it quits, the audition runs in
a subprocess: that is where PortAudio, JACK and rtmidi would print over the UI's screen.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import mido
import numpy as np
import pytest
from support.cli import python
from support.jack import ONSET, JackRig, connections, despite_xruns, start_jackd, stop_jackd

from lts_sampler.core.errors import LtsError
from lts_sampler.core.kitformat import RELEASE_S
from lts_sampler.playing.audition import JACK_NAME, Audition
from lts_sampler.playing.sampler import Kit, load_kit

HOLD_S = 0.3
KEYS = f"lts-test audition keys {os.getpid()}"
SLACK = 4096
"""Frames the audio may lag a call or a frame time by: blocks of PortAudio and JACK (~93 ms)."""


@pytest.fixture(scope="module")
def kit(keys_kit) -> Kit:
    """The demo keys kit: keys C4–G#4, 1.5 s samples."""
    return load_kit(keys_kit)


@pytest.fixture(scope="module")
def keyboard(jack_server) -> mido.ports.BaseOutput:
    port = mido.Backend("mido.backends.rtmidi/UNIX_JACK").open_output(KEYS, virtual=True, client_name=KEYS)
    yield port
    port.close()


@pytest.fixture(scope="module")
def audition(kit, keyboard) -> Audition:
    playing = Audition()
    playing.open()
    assert playing.silent_reason is None, playing.silent_reason
    playing.set_kit(kit)
    playing.listen(KEYS)
    yield playing
    playing.close()


@pytest.fixture
def rig(audition) -> JackRig:
    """Records the audition's audio ports (its MIDI goes to the audition's input, unused).

    While it lives, no rtmidi client may open in this process: that holds the GIL waiting for
    the JACK server, which waits for the rig's xrun callback, which waits for the GIL."""
    recording = JackRig(f"lts-test audition rig {os.getpid()}", midi_port=connections(f"{KEYS}:{KEYS}")[0],
                        audio_ports=[f"{JACK_NAME}:out_0", f"{JACK_NAME}:out_1"])
    yield recording
    recording.close()


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def frames_when(rig: JackRig, condition, timeout: float = 10.0) -> tuple[int, int]:
    """JACK frame times just before and just after the look at which ``condition()`` first held."""
    deadline = time.monotonic() + timeout
    while True:
        before = rig.client.frame_time
        if condition():
            return before, rig.client.frame_time
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.005)


def recorded(rig: JackRig, start: int, stop: int) -> np.ndarray:
    """Frames ``start`` to ``stop`` of the recording, once recorded: [frames], mono."""
    audio = rig.audio(start, stop)
    assert np.array_equal(audio[:, 0], audio[:, 1]), "mono on both channels"
    return audio[:, 0]


def onset(audio: np.ndarray) -> int:
    loud = np.flatnonzero(np.abs(audio) > ONSET)
    assert loud.size, "no sound"
    return int(loud[0])


def test_a_tap_sounds_for_its_hold_time_and_release_then_stops(audition, rig):
    def tap() -> tuple[int, tuple[int, int], int, np.ndarray]:
        start = rig.client.frame_time
        audition.tap(60, hold_s=HOLD_S)
        seen = frames_when(rig, lambda: 60 in audition.sounding())
        gone = frames_when(rig, lambda: 60 not in audition.sounding())[1]
        return start, seen, gone, recorded(rig, start, gone + SLACK)

    start, seen, gone, audio = despite_xruns(tap)
    rate, on = rig.rate, onset(audio)
    held, released = on + int(HOLD_S * rate), on + int((HOLD_S + RELEASE_S) * rate)
    assert np.sqrt(np.mean(audio[on:held] ** 2)) > 0.02, "too quiet"
    assert np.abs(audio[held - SLACK // 2 : held]).max() > 0.05, "released before its hold time"
    assert not np.any(audio[released + SLACK // 2 :]), "still sounds after hold time and release"
    seen_sounding = audio[max(0, seen[0] - start - SLACK) : seen[1] - start + SLACK]
    assert np.abs(seen_sounding).max() > 0.05, "sounding() but silent"
    assert not np.any(audio[gone - start + SLACK // 2 :]), "sounds after sounding() lost it"


def test_a_preview_plays_once_at_its_pitch(audition, rig):
    """A 0.3 s 440 Hz sine at 22050 Hz, played at 44100 Hz: 880 Hz for 0.15 s unless resampled."""
    t = np.arange(int(0.3 * 22050)) / 22050

    def preview() -> np.ndarray:
        start = rig.client.frame_time
        audition.preview(0.5 * np.sin(2 * np.pi * 440 * t), 22050)
        assert audition.previewing()
        return recorded(rig, start, start + rig.rate)

    audio = despite_xruns(preview)
    loud = np.flatnonzero(np.abs(audio) > ONSET)
    sound = audio[loud[0] : loud[-1] + 1]
    spectrum = np.abs(np.fft.rfft(sound * np.hanning(len(sound)), n=rig.rate))  # 1 Hz bins
    assert abs(len(sound) / rig.rate - 0.3) < 0.005
    assert abs(int(np.argmax(spectrum)) - 440) <= 2
    assert wait_for(lambda: not audition.previewing())


def test_a_midi_keyboard_listened_to_plays_the_kit(audition, rig, keyboard):
    def play() -> np.ndarray:
        start = rig.client.frame_time
        keyboard.send(mido.Message("note_on", note=62, velocity=100))
        keyboard.send(mido.Message("program_change", program=3))  # ignored
        assert wait_for(lambda: 62 in audition.sounding())
        keyboard.send(mido.Message("note_off", note=62))
        assert wait_for(lambda: 62 not in audition.sounding())
        return recorded(rig, start, rig.client.frame_time)

    audio = despite_xruns(play)
    assert np.abs(audio[onset(audio):]).max() > 0.05


def test_listening_to_a_missing_port_names_the_ports_and_keeps_the_one_before(audition):
    assert audition.midi_inputs() == ([f"{KEYS}:{KEYS}"], None)
    with pytest.raises(LtsError, match="'no such port'") as raised:
        audition.listen("no such port")
    assert KEYS in str(raised.value) and "\n" not in str(raised.value)
    assert audition.listening == f"{KEYS}:{KEYS}"
    assert repr(audition).endswith(f"[JACK Audio Connection Kit] 44100 Hz, kit='keys', listening='{KEYS}:{KEYS}')")


def test_stop_silences_notes_and_preview_at_once(audition, rig):
    def stop() -> np.ndarray:
        audition.note_on(64, 100)
        audition.preview(np.full(44100, 0.1), 44100)
        assert wait_for(lambda: 64 in audition.sounding())
        audition.stop()
        stopped = rig.client.frame_time
        assert not audition.previewing() and wait_for(lambda: not audition.sounding())
        return recorded(rig, stopped, stopped + 2 * SLACK)

    audio = despite_xruns(stop)
    assert not np.any(audio[SLACK:])


@pytest.mark.usefixtures("jack_server")
def test_without_an_audio_device_it_plays_silently(kit):
    quiet = Audition(output="no-such-device")
    quiet.open()
    reason = quiet.silent_reason
    assert "no-such-device" in reason and "start JACK" in reason and "rendering still works" in reason
    assert "\n" not in reason and repr(quiet) == f"Audition({reason}, kit=None, listening=None)"
    quiet.set_kit(kit)
    quiet.tap(60, hold_s=HOLD_S)
    quiet.preview(np.zeros(2205), 22050)
    assert quiet.sounding() == {60} and quiet.previewing()
    assert wait_for(lambda: quiet.sounding() == set() and not quiet.previewing())
    quiet.close()
    quiet.close()


def test_importing_it_starts_neither_textual_nor_portaudio():
    done = python("import lts_sampler.playing.audition", refuse=["textual", "sounddevice", "torch"])
    assert done.returncode == 0, done.stderr


WITHOUT_JACK = """
import os, sys
from lts_sampler.playing.audition import Audition
from lts_sampler.core.errors import LtsError
audition = Audition()
audition.open()
print(audition.silent_reason)
print(audition.midi_inputs()[1])
try:
    audition.listen("any")
except LtsError as err:
    print(err)
audition.tap(60)
print(audition.sounding())
os.environ["JACK_DEFAULT_SERVER"] = sys.argv[1]  # the JACK server the tests run starts now
audition.open()
print(audition.silent_reason)
audition.close()
"""


@pytest.mark.usefixtures("jack_server")
def test_without_jack_and_sound_card_open_says_why_and_nothing_is_printed():
    """Under a JACK server name that runs nowhere: PortAudio finds no output; opened again
    once that server "starts", the audition finds it."""
    running = os.environ.get("JACK_DEFAULT_SERVER", "default")
    done = python(WITHOUT_JACK, running, env={**os.environ, "JACK_DEFAULT_SERVER": f"lts-no-server-{os.getpid()}"},
                  timeout=120)
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and done.stderr == "", done.stderr
    if lines[0] == "None":
        pytest.skip("this machine has a sound card: PortAudio found an output without JACK")
    assert lines[0].startswith("no audio output device found;") and "start JACK" in lines[0]
    assert "JACK server not running" in lines[1] and "JACK server not running" in lines[2]
    assert lines[3:] == ["{60}", "None"]


JACK_QUITS = """
import sys, time, mido
from lts_sampler.playing.audition import Audition
audition = Audition()
audition.open()
keys = mido.Backend("mido.backends.rtmidi/UNIX_JACK").open_output("keys", virtual=True, client_name="keys")
assert audition.midi_inputs() == (["keys:keys"], None)
audition.listen("keys")
audition.note_on(60, 100)
print(audition.silent_reason, flush=True)
sys.stdin.readline()  # JACK is gone
deadline = time.monotonic() + 60
while audition.silent_reason is None and time.monotonic() < deadline:
    time.sleep(0.01)
audition.open()
print(audition.silent_reason, audition.sounding(), flush=True)
audition.close()
"""


@pytest.mark.live
def test_when_jack_quits_it_says_so_prints_nothing_and_exits():
    name = f"lts-quits-{os.getpid()}"
    server = start_jackd(name)
    player = None
    try:
        player = subprocess.Popen([sys.executable, "-c", JACK_QUITS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env={**os.environ, "JACK_DEFAULT_SERVER": name})
        assert player.stdout.readline() == "None\n"
        stop_jackd(server)
        out, err = player.communicate("\n", timeout=120)
    finally:
        stop_jackd(server)
        if player is not None and player.poll() is None:
            player.kill()
    assert player.returncode == 0 and err == "", err
    assert out.startswith("the audio stream stopped (did JACK quit?); to hear again, restart lts-sampler")
    assert out.rstrip().endswith("{60}")
