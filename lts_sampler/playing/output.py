"""Audio out through PortAudio (sounddevice): finding an output device, opening a stream.

By default a running JACK server is preferred (PortAudio's JACK host API, which lists devices
only while a server runs), else the system's default output. Under JACK, PortAudio's client
takes the name given to :func:`sounddevice_module` before PortAudio starts.

sounddevice offers no public way to re-scan the devices (a JACK server started after
PortAudio was) nor to keep its exit handler from closing PortAudio (which hangs once the
JACK server has gone): :func:`rescan_devices` and :func:`abandon_portaudio` make those two
calls to its private names (its public terminate and initialize are asked for in
spatialaudio/python-sounddevice#3), here and nowhere else.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import dataclasses
import sys
from collections.abc import Callable

from lts_sampler.core.errors import LtsError
from lts_sampler.core.native import quiet_native

JACK_HOSTAPI = "JACK Audio Connection Kit"



@dataclasses.dataclass(frozen=True)
class AudioOutput:
    """A PortAudio output: device ``index`` and ``name``, its ``hostapi``, the ``channels`` a
    stream uses (1 or 2) and the ``sample_rate`` (Hz) it runs at."""

    index: int
    name: str
    hostapi: str
    channels: int
    sample_rate: int


def find_output(query: str | None, *, sample_rate: int, jack_name: str) -> AudioOutput:
    """The output device for ``query`` (part of a device's or host API's name; None: a running
    JACK server, else the system's default), at ``sample_rate`` if it takes it, else at its own.

    ``jack_name`` names PortAudio's JACK client (set before PortAudio starts)."""
    sd = sounddevice_module(jack_name)
    with quiet_native():
        hostapis = [api["name"] for api in sd.query_hostapis()]
        devices = list(enumerate(sd.query_devices()))
    outputs = [(i, d) for i, d in devices if d["max_output_channels"] > 0]
    if query is not None:
        chosen = [(i, d) for i, d in outputs if query.lower() in f"{d['name']} {hostapis[d['hostapi']]}".lower()]
        if not chosen:
            names = ", ".join(f"{d['name']} [{hostapis[d['hostapi']]}]" for _, d in outputs) or "none"
            raise LtsError(f"no audio output matches {query!r} (outputs: {names})")
    else:
        jack = [api for api in sd.query_hostapis() if api["name"] == JACK_HOSTAPI and api["default_output_device"] >= 0]
        default = jack[0]["default_output_device"] if jack else sd.default.device[1]
        chosen = [(i, d) for i, d in outputs if i == default] or outputs[:1]
        if not chosen:
            raise LtsError("no audio output device found")
    index, device = chosen[0]
    channels = min(2, device["max_output_channels"])
    try:
        with quiet_native():
            sd.check_output_settings(index, channels=channels, samplerate=sample_rate)
    except sd.PortAudioError:
        sample_rate = int(device["default_samplerate"])
    return AudioOutput(index, device["name"], hostapis[device["hostapi"]], channels, sample_rate)


def open_stream(output: AudioOutput, callback: Callable, block: int, *, finished: Callable):
    """A started PortAudio output stream calling ``callback(outdata, frames, time, status)``
    for every block and ``finished()`` once it stops."""
    import sounddevice as sd

    try:
        with quiet_native():
            stream = sd.OutputStream(device=output.index, channels=output.channels, samplerate=output.sample_rate,
                                     blocksize=block, dtype="float32", latency="low", callback=callback,
                                     finished_callback=finished)
            stream.start()
    except sd.PortAudioError as err:
        raise LtsError(f"cannot open audio output {output.name!r}: {err}") from None
    return stream


def abandon_portaudio() -> None:
    """Let the process exit without closing PortAudio: once the JACK server it played to has
    gone, PortAudio (19.6) can neither close a stream nor terminate; it waits ten minutes for
    the server, then aborts."""
    sd = sys.modules.get("sounddevice")
    if sd is not None:  # no public way to skip sounddevice's exit handler (cf. python-sounddevice#3)
        atexit.unregister(sd._exit_handler)


_JACK_NAME: ctypes.Array | None = None
"""PortAudio keeps a pointer to its JACK client name: the buffer lives here."""


def sounddevice_module(jack_name: str):
    """sounddevice, imported with PortAudio's JACK client named ``jack_name`` where PortAudio
    has a JACK host API; LtsError when PortAudio is missing."""
    global _JACK_NAME
    library = ctypes.util.find_library("portaudio")
    if library and "sounddevice" not in sys.modules:
        portaudio = ctypes.CDLL(library)
        if hasattr(portaudio, "PaJack_SetClientName"):
            _JACK_NAME = ctypes.create_string_buffer(jack_name.encode()[:60])
            portaudio.PaJack_SetClientName(_JACK_NAME)
    try:
        with quiet_native():
            import sounddevice
    except ImportError:
        raise LtsError("audio output needs sounddevice: pip install 'lts-sampler[live]'") from None
    except OSError:
        raise LtsError("PortAudio is not installed (apt-get install libportaudio2)") from None
    return sounddevice


def rescan_devices(sd) -> None:
    """Make PortAudio list the devices again, e.g. a JACK server's, started after PortAudio
    was. sounddevice has no public call for it (spatialaudio/python-sounddevice#3)."""
    with quiet_native():
        sd._terminate()
        sd._initialize()
