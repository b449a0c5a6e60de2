"""MIDI input ports through python-rtmidi, on each desktop's own MIDI system.

The systems (``--midi-api``): ``alsa`` and ``jack`` on Linux, ``coremidi`` on macOS, ``winmm``
on Windows, each where the installed python-rtmidi was built with it. By default Linux takes
ALSA where its sequencer (``/dev/snd/seq``) can be opened, else JACK; macOS CoreMIDI; Windows
Windows MM. Windows MM has no virtual ports: a loopback driver (loopMIDI, for example) stands in.

Without a callback, messages wait in rtmidi's own queue (C++) until :meth:`MidiIn.pending`
takes them: the MIDI driver's thread, under JACK a real-time thread of its own, then never runs
Python nor waits for Python's lock.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

from lts_sampler.core.errors import BadValue, LtsError
from lts_sampler.core.native import quiet_native

APIS = {"alsa": "LINUX_ALSA", "jack": "UNIX_JACK", "coremidi": "MACOSX_CORE", "winmm": "WINDOWS_MM"}
"""``--midi-api`` value → python-rtmidi's API constant (``rtmidi.API_…``)."""
NO_VIRTUAL_PORTS = ("winmm",)
HINTS = {
    "alsa": "ALSA MIDI needs a readable /dev/snd/seq (modprobe snd-seq), or use JACK MIDI",
    "jack": "is a JACK server running? start one (e.g. jackd -d alsa, or with qjackctl), or use ALSA MIDI",
    "coremidi": "check Audio MIDI Setup",
    "winmm": "check that the device is connected and no other program holds it",
}
QUEUE_SIZE = 1024
"""Messages rtmidi keeps until they are taken; more arriving meanwhile are dropped."""


def choose_api(requested: str | None, *, platform: str, compiled: list[str], alsa_sequencer: bool) -> str:
    """The MIDI system to open: ``requested`` (a key of :data:`APIS`), else this ``platform``'s
    own (``sys.platform``). ``compiled``: the systems python-rtmidi was built with;
    ``alsa_sequencer``: whether ALSA's sequencer device can be opened."""
    if requested is None:
        if platform.startswith("linux"):
            preferred = ["alsa", "jack"] if alsa_sequencer else ["jack", "alsa"]
        elif platform == "darwin":
            preferred = ["coremidi", "jack"]
        elif platform in ("win32", "cygwin"):
            preferred = ["winmm"]
        else:
            preferred = ["jack", "alsa"]
        requested = next((api for api in preferred if api in compiled), preferred[0])
    if requested not in compiled:
        have = ", ".join(compiled) or "none"
        raise BadValue("midi_api", requested, f"this python-rtmidi was built without {requested} MIDI "
                       f"(it has: {have}); choose another MIDI system")
    return requested


def midi_api(requested: str | None) -> str:
    """:func:`choose_api` for this machine and its python-rtmidi; LtsError where that is missing."""
    rtmidi = _rtmidi()
    built = set(rtmidi.get_compiled_api())
    compiled = [name for name, constant in APIS.items() if getattr(rtmidi, f"API_{constant}") in built]
    return choose_api(requested, platform=sys.platform, compiled=compiled,
                      alsa_sequencer=os.access("/dev/snd/seq", os.R_OK | os.W_OK))


def input_names(api: str) -> list[str]:
    """The names of the MIDI input ports of ``api``."""
    rtmidi = _rtmidi()
    with midi_errors(api):
        probe = rtmidi.MidiIn(_constant(api), "lts-sampler probe")
        try:
            return probe.get_ports()
        finally:
            probe.delete()


def find_input(api: str, query: str | None, *, no_ports: str) -> str:
    """The input port named ``query``, else the first whose name contains it (any case), else
    the first port of all when ``query`` is None. ``no_ports`` ends the error when there is none."""
    names = input_names(api)
    if not names:
        raise LtsError(f"no MIDI input ports ({api} MIDI); {no_ports}")
    if query is None:
        return names[0]
    matches = [n for n in names if n == query] or [n for n in names if query.lower() in n.lower()]
    if not matches:
        raise LtsError(f"no MIDI input port matches {query!r}; the ports are: {', '.join(names)}")
    return matches[0]


class MidiIn:
    """An open MIDI input: an existing port named ``port`` (:func:`find_input`), or a virtual
    port named ``virtual`` that other programs connect to, as client ``client_name``.

    ``callback(data)``, if given, receives each message's bytes (a list of ints) on the MIDI
    driver's thread; without it, :meth:`pending` takes them.
    """

    def __init__(self, api: str, *, client_name: str, port: str | None = None, virtual: str | None = None,
                 callback: Callable[[list[int]], None] | None = None):
        rtmidi = _rtmidi()
        if virtual is not None and api in NO_VIRTUAL_PORTS:
            raise BadValue("midi_in", None, f"{api} MIDI has no virtual ports: create a loopback port "
                           "(e.g. with loopMIDI) and name it")
        with midi_errors(api):
            self._rt = rtmidi.MidiIn(_constant(api), client_name[:60], QUEUE_SIZE)
            if virtual is not None:
                self._rt.open_virtual_port(virtual)
            else:
                self._rt.open_port(self._rt.get_ports().index(port), "in")
            if callback is not None:
                self._rt.set_callback(lambda event, _: callback(event[0]))
        self.api = api

    def pending(self) -> Iterator[list[int]]:
        """The messages received since the last call, oldest first, each its bytes."""
        while (event := self._rt.get_message()) is not None:
            yield event[0]

    def close(self) -> None:
        with quiet_native():
            self._rt.cancel_callback()
            self._rt.close_port()
            self._rt.delete()

    def __enter__(self) -> MidiIn:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def midi_errors(api: str) -> Iterator[None]:
    """Turn rtmidi's errors into one-line LtsErrors with a hint for ``api``; silence the
    drivers' own chatter meanwhile."""
    rtmidi = _rtmidi()
    try:
        with quiet_native():
            yield
    except (OSError, rtmidi.RtMidiError, ValueError) as err:
        raise LtsError(f"cannot open MIDI ({api}): {str(err).rstrip('.')}; {HINTS[api]}") from None


def _constant(api: str) -> int:
    return getattr(_rtmidi(), f"API_{APIS[api]}")


def _rtmidi():
    try:
        import rtmidi
    except ImportError:
        raise LtsError("live MIDI needs python-rtmidi: pip install 'lts-sampler[live]'") from None
    return rtmidi
