"""The terminal UI's sound through a real JACK server (the dummy driver: no sound card needed).

One :class:`Audition` plays into JACK, listening to a virtual MIDI keyboard; a :class:`JackRig`
records its two audio ports. Sounds are found in the recording by JACK frame time; wall-clock
waits only bound how long a test may take. Without JACK, or once it quits, the audition runs in
a subprocess: that is where PortAudio, JACK and rtmidi would print over the UI's screen.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import jack
import mido
import numpy as np
import pytest
from jack_fixtures import JACKD, JackRig, jack_server  # noqa: F401 (a fixture)
from test_cli_train import lts

from lts_sampler.audition import JACK_NAME, Audition
from lts_sampler.errors import LtsError
from lts_sampler.kit import RELEASE_S
from lts_sampler.sampler import Kit, load_kit

pytestmark = pytest.mark.usefixtures("jack_server")

ONSET = 1e-3
"""A note has sounded once a sample exceeds this (−60 dBFS)."""
HOLD_S = 0.3
KEYS = f"lts-test audition keys {os.getpid()}"
SLACK = 4096
"""Frames the audio may lag a call or a frame time by: blocks of PortAudio and JACK (~93 ms)."""


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Kit:
    """The demo keys kit: keys C4–G#4, 1.5 s samples."""
    folder = tmp_path_factory.mktemp("kits") / "keys"
    done = lts("render", "--demo", "-o", str(folder), "--n-iter", "4")
    assert done.returncode == 0, done.stderr
    return load_kit(folder)


@pytest.fixture(scope="module")
def keyboard() -> mido.ports.BaseOutput:
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
    probe = jack.Client("lts-probe", no_start_server=True)
    midi_in = probe.get_all_connections(f"{KEYS}:{KEYS}")[0].name
    probe.close()
    recording = JackRig(f"lts-test audition rig {os.getpid()}", midi_port=midi_in,
                        audio_ports=[f"{JACK_NAME}:out_0", f"{JACK_NAME}:out_1"])
    time.sleep(0.1)  # some audio recorded before the first note
    yield recording
    recording.close()


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def recorded(rig: JackRig, start: int, stop: int) -> np.ndarray:
    """Frames ``start`` to ``stop`` of the recording, once recorded: [frames], mono."""
    assert wait_for(lambda: rig.client.frame_time > stop + 2 * rig.client.blocksize), "JACK stalled"
    audio = rig.audio(start, stop)
    assert np.array_equal(audio[:, 0], audio[:, 1]), "mono on both channels"
    return audio[:, 0]


def onset(audio: np.ndarray) -> int:
    loud = np.flatnonzero(np.abs(audio) > ONSET)
    assert loud.size, "no sound"
    return int(loud[0])


def test_a_tap_sounds_for_its_hold_time_and_release_then_stops(audition, rig):
    start = rig.client.frame_time
    audition.tap(60, hold_s=HOLD_S)
    assert wait_for(lambda: 60 in audition.sounding())
    seen = rig.client.frame_time
    assert wait_for(lambda: 60 not in audition.sounding())
    gone = rig.client.frame_time
    audio = recorded(rig, start, gone + SLACK)
    rate, on = rig.rate, onset(audio)
    held, released = on + int(HOLD_S * rate), on + int((HOLD_S + RELEASE_S) * rate)
    assert on < SLACK, f"sounded {on / rate:.3f} s after the tap"
    assert np.sqrt(np.mean(audio[on:held] ** 2)) > 0.02, "too quiet"
    assert np.abs(audio[held - SLACK // 2 : held]).max() > 0.05, "released before its hold time"
    assert not np.any(audio[released + SLACK // 2 :]), "still sounds after hold time and release"
    assert np.abs(audio[max(0, seen - start - SLACK) : seen - start + SLACK]).max() > 0.05, "sounding() but silent"
    assert not np.any(audio[gone - start + SLACK // 2 :]), "sounds after sounding() lost it"


def test_a_preview_plays_once_at_its_pitch(audition, rig):
    """A 0.3 s 440 Hz sine at 22050 Hz, played at 44100 Hz: 880 Hz for 0.15 s unless resampled."""
    t = np.arange(int(0.3 * 22050)) / 22050
    start = rig.client.frame_time
    audition.preview(0.5 * np.sin(2 * np.pi * 440 * t), 22050)
    assert audition.previewing()
    audio = recorded(rig, start, start + rig.rate)
    loud = np.flatnonzero(np.abs(audio) > ONSET)
    sound = audio[loud[0] : loud[-1] + 1]
    spectrum = np.abs(np.fft.rfft(sound * np.hanning(len(sound)), n=rig.rate))  # 1 Hz bins
    assert abs(len(sound) / rig.rate - 0.3) < 0.005
    assert abs(int(np.argmax(spectrum)) - 440) <= 2
    assert wait_for(lambda: not audition.previewing())


def test_a_midi_keyboard_listened_to_plays_the_kit(audition, rig, keyboard):
    start = rig.client.frame_time
    keyboard.send(mido.Message("note_on", note=62, velocity=100))
    keyboard.send(mido.Message("program_change", program=3))  # ignored
    assert wait_for(lambda: 62 in audition.sounding())
    keyboard.send(mido.Message("note_off", note=62))
    assert wait_for(lambda: 62 not in audition.sounding())
    audio = recorded(rig, start, rig.client.frame_time)
    assert np.abs(audio[onset(audio):]).max() > 0.05


def test_listening_to_a_missing_port_names_the_ports_and_keeps_the_one_before(audition):
    assert audition.midi_inputs() == ([f"{KEYS}:{KEYS}"], None)
    with pytest.raises(LtsError, match="'no such port'") as raised:
        audition.listen("no such port")
    assert KEYS in str(raised.value) and "\n" not in str(raised.value)
    assert audition.listening == f"{KEYS}:{KEYS}"
    assert repr(audition).endswith(f"[JACK Audio Connection Kit] 44100 Hz, kit='keys', listening='{KEYS}:{KEYS}')")


def test_stop_silences_notes_and_preview_at_once(audition, rig):
    audition.note_on(64, 100)
    audition.preview(np.full(44100, 0.1), 44100)
    assert wait_for(lambda: 64 in audition.sounding())
    audition.stop()
    stopped = rig.client.frame_time
    assert not audition.previewing() and wait_for(lambda: not audition.sounding())
    audio = recorded(rig, stopped, stopped + 2 * SLACK)
    assert not np.any(audio[SLACK:])


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
    time.sleep(HOLD_S + 0.05)
    assert quiet.sounding() == set() and not quiet.previewing()
    quiet.close()
    quiet.close()


def python(script: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env}, check=False)


def test_importing_it_starts_neither_textual_nor_portaudio():
    done = python("import sys, lts_sampler.audition\nprint({'textual', 'sounddevice', 'torch'} & set(sys.modules))")
    assert done.stdout == "set()\n", done.stderr


WITHOUT_JACK = """
import os
from lts_sampler.audition import Audition
from lts_sampler.errors import LtsError
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
del os.environ["JACK_DEFAULT_SERVER"]  # the JACK server the tests run starts now
audition.open()
print(audition.silent_reason)
audition.close()
"""


def test_without_jack_and_sound_card_open_says_why_and_nothing_is_printed():
    """Under a JACK server name that runs nowhere: PortAudio finds no output; opened again
    once that server "starts", the audition finds it."""
    done = python(WITHOUT_JACK, JACK_DEFAULT_SERVER=f"lts-no-server-{os.getpid()}")
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and done.stderr == "", done.stderr
    if lines[0] == "None":
        pytest.skip("this machine has a sound card: PortAudio found an output without JACK")
    assert lines[0].startswith("no audio output device found;") and "start JACK" in lines[0]
    assert "JACK server not running" in lines[1] and "JACK server not running" in lines[2]
    assert lines[3:] == ["{60}", "None"]


JACK_QUITS = """
import sys, time, mido
from lts_sampler.audition import Audition
audition = Audition()
audition.open()
keys = mido.Backend("mido.backends.rtmidi/UNIX_JACK").open_output("keys", virtual=True, client_name="keys")
assert audition.midi_inputs() == (["keys:keys"], None)
audition.listen("keys")
audition.note_on(60, 100)
print(audition.silent_reason, flush=True)
sys.stdin.readline()  # JACK is gone
deadline = time.monotonic() + 10
while audition.silent_reason is None and time.monotonic() < deadline:
    time.sleep(0.01)
audition.open()
print(audition.silent_reason, audition.sounding(), flush=True)
audition.close()
"""


def test_when_jack_quits_it_says_so_prints_nothing_and_exits():
    name = f"lts-quits-{os.getpid()}"
    server = subprocess.Popen([JACKD[0], "-n", name, *JACKD[1:]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    player = None
    try:
        assert wait_for(lambda: _serves(name), timeout=15), "jackd did not start"
        player = subprocess.Popen([sys.executable, "-c", JACK_QUITS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env={**os.environ, "JACK_DEFAULT_SERVER": name})
        assert player.stdout.readline() == "None\n"
        server.terminate()
        server.wait(10)
        out, err = player.communicate("\n", timeout=30)
    finally:
        server.kill()
        if player is not None and player.poll() is None:
            player.kill()
    assert player.returncode == 0 and err == "", err
    assert out.startswith("the audio stream stopped (did JACK quit?); to hear again, restart lts-sampler")
    assert out.rstrip().endswith("{60}")


def _serves(name: str) -> bool:
    try:
        jack.Client("lts-probe", servername=name, no_start_server=True).close()
    except jack.JackOpenError:
        return False
    return True
