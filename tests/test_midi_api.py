"""Which MIDI system play and bridge open, on each desktop, against what python-rtmidi was built with."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lts_sampler.core.errors import BadValue, LtsError
from lts_sampler.playing.midi_ports import APIS, MidiIn, choose_api, midi_api

rtmidi = pytest.importorskip("rtmidi")

EVERY = list(APIS)


@pytest.mark.parametrize("platform, compiled, sequencer, expected", [
    ("linux", ["alsa", "jack"], True, "alsa"),
    ("linux", ["alsa", "jack"], False, "jack"),  # no /dev/snd/seq (a container, CI): JACK
    ("linux", ["alsa"], False, "alsa"),  # fails on opening, with ALSA's hint
    ("darwin", ["coremidi", "jack"], False, "coremidi"),
    ("darwin", ["jack"], False, "jack"),
    ("win32", ["winmm"], False, "winmm"),
    ("freebsd14", ["jack"], False, "jack"),
])
def test_each_desktop_gets_its_own_midi_system(platform, compiled, sequencer, expected):
    assert choose_api(None, platform=platform, compiled=compiled, alsa_sequencer=sequencer) == expected


@pytest.mark.parametrize("requested", EVERY)
def test_a_requested_system_is_taken_only_where_rtmidi_has_it(requested):
    assert choose_api(requested, platform="linux", compiled=EVERY, alsa_sequencer=False) == requested
    others = [api for api in EVERY if api != requested]
    with pytest.raises(LtsError, match=f"built without {requested} MIDI \\(it has: {', '.join(others)}\\)"):
        choose_api(requested, platform="linux", compiled=others, alsa_sequencer=False)


def test_a_platform_whose_system_is_missing_is_told_so():
    with pytest.raises(LtsError, match="built without winmm MIDI \\(it has: none\\)"):
        choose_api(None, platform="win32", compiled=[], alsa_sequencer=False)


def test_this_rtmidi_build_decides_what_is_accepted():
    compiled = {rtmidi.get_api_name(api) for api in rtmidi.get_compiled_api()}
    names = {"alsa": "alsa", "jack": "jack", "coremidi": "core", "winmm": "winmm"}  # ours → rtmidi's
    for api in EVERY:
        if names[api] in compiled:
            assert midi_api(api) == api
        else:
            with pytest.raises(LtsError, match=f"built without {api} MIDI"):
                midi_api(api)
    assert midi_api(None) in EVERY


def test_windows_mm_has_no_virtual_port_and_says_to_use_a_loopback_port():
    with pytest.raises(BadValue, match="winmm MIDI has no virtual ports: create a loopback port") as refused:
        MidiIn("winmm", client_name="LTS Sampler", virtual="LTS Sampler")
    assert refused.value.worded("--midi-in").startswith("--midi-in: winmm MIDI has no virtual ports")


@pytest.mark.parametrize("verb", [["play", "kits/none"], ["bridge", "--kits", "kits/none"]])
def test_a_system_this_build_lacks_is_refused_first_in_one_line(verb):
    compiled = {rtmidi.get_api_name(api) for api in rtmidi.get_compiled_api()}
    missing = next((ours for ours, theirs in (("winmm", "winmm"), ("coremidi", "core")) if theirs not in compiled), None)
    if missing is None:
        pytest.skip("this python-rtmidi has every MIDI system")
    done = subprocess.run([sys.executable, "-m", "lts_sampler.faces.cli", *verb, "--midi-api", missing],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"lts-sampler: error: --midi-api '{missing}': this python-rtmidi was built without {missing} MIDI (it has: " in done.stderr


def test_live_playing_imports_where_posix_terminals_are_missing():
    """As on Windows: no termios, tty or fcntl. The arrow keys of play's pad are simply off."""
    code = ("import sys\n"
            "class NoPosix:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name in ('termios', 'tty', 'fcntl'):\n"
            "            raise ModuleNotFoundError(name)\n"
            "sys.meta_path.insert(0, NoPosix())\n"
            "for name in ('termios', 'tty'):\n"
            "    sys.modules.pop(name, None)\n"
            "import lts_sampler.playing.live as live\n"
            "print(live.foreground_terminal(sys.stdin))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
