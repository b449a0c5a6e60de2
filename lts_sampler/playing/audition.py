"""The terminal UI's sound: a kit played from the computer keyboard or a MIDI keyboard, and
one-shot previews of any audio, through one PortAudio output stream.

The engine plays in its host's audio callback (:mod:`lts_sampler.playing.host`); the UI's
thread and the MIDI driver's only queue work for it. Every public method but
:meth:`Audition.open` returns at once. Nothing is printed: PortAudio's, JACK's and rtmidi's
messages would corrupt the UI's screen.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import sys
import threading
import time

import mido
import numpy as np
import soxr

from lts_sampler.core.errors import LtsError
from lts_sampler.core.native import quiet_native
from lts_sampler.core.spec import AudioSpec
from lts_sampler.playing.host import EngineHost, check_block, one_blas_thread
from lts_sampler.playing.midi_ports import MidiIn, find_input, input_names, midi_api
from lts_sampler.playing.output import (
    JACK_HOSTAPI,
    AudioOutput,
    abandon_portaudio,
    find_output,
    open_stream,
    rescan_devices,
    sounddevice_module,
)
from lts_sampler.playing.sampler import Kit

JACK_NAME = "lts-sampler tui"
HOW_TO_HEAR = "to hear, start JACK (or connect an audio device) and open the audio again; rendering still works"
NOT_OPEN = "the audio output is not open"
JACK_LOST = "the audio stream stopped (did JACK quit?); to hear again, restart lts-sampler; rendering still works"
_jack_lost = False
"""Set once a stream of this process stopped on its own (JACK quit). PortAudio (19.6) cannot
reconnect to JACK then, nor close a stream or itself: it waits 10 minutes for the gone server,
then aborts. So nothing here touches it again until the process exits."""


class Audition:
    """Auditioning for the terminal UI: a kit played from the computer keyboard or a MIDI
    keyboard, and one-shot previews of any audio, through one PortAudio output stream.
    Without an audio device everything still works silently and ``silent_reason`` says why.

    Parameters
    ----------
    output : part of an output device's or host API's name (None: a running JACK server, else
        the system's default output)
    block : frames per audio callback (512 at 44.1 kHz = 11.6 ms)
    voices : polyphony of the sampler
    """

    def __init__(self, *, output: str | None = None, block: int = 512, voices: int = 32):
        self.output, self.block, self.voices = output, check_block(block), voices
        self._reason: str | None = NOT_OPEN
        self.listening: str | None = None
        """The MIDI input port listened to."""
        self._device: AudioOutput | None = None
        self._stream = self._midi = self._host = None
        self._kit: Kit | None = None
        self._held: dict[int, float] = {}  # note → time.monotonic() of its release (inf: held), for silence
        self._held_lock = threading.Lock()
        self._preview_until = 0.0  # time.monotonic() when the preview ends

    def __repr__(self) -> str:
        kit = self._kit.name if self._kit else None
        return f"Audition({self.device or self.silent_reason}, kit={kit!r}, listening={self.listening!r})"

    @property
    def device(self) -> str | None:
        """The output sounding, "'name' [host API] rate Hz"; None while silent."""
        device = self._device
        return None if self.silent_reason is not None else f"'{device.name}' [{device.hostapi}] {device.sample_rate} Hz"

    @property
    def silent_reason(self) -> str | None:
        """None while sound plays; else one line: why not, and how to get sound."""
        global _jack_lost
        reason, stream = self._reason, self._stream
        if reason is None and stream is not None and not stream.active:  # stopped on its own
            self._reason = reason = JACK_LOST
            _jack_lost = True
        return reason

    def open(self) -> None:
        """Find and start the output stream; on failure set ``silent_reason`` instead of raising.
        Slow (PortAudio starts, JACK connects): call it from a worker thread. Called again, it
        finds a JACK server started since."""
        if self.silent_reason is None:
            return
        if _jack_lost:
            self._reason = JACK_LOST
            return
        try:
            sd = sounddevice_module(JACK_NAME)
        except LtsError as err:
            self._reason = _silent(str(err))
            return
        abandon_portaudio()  # the UI may end after JACK has quit: closing PortAudio would hang
        try:
            if JACK_HOSTAPI not in [api["name"] for api in sd.query_hostapis()]:
                rescan_devices(sd)  # no JACK server when PortAudio started: look again
            device = find_output(self.output, sample_rate=AudioSpec().sample_rate, jack_name=JACK_NAME)
            one_blas_thread()
            self._device = device
            self._host = EngineHost([self._kit], sample_rate=device.sample_rate, voices=self.voices,
                                    publish_sounding=True)
            # PortAudio does not call ``finished`` when JACK quits: silent_reason asks stream.active
            self._stream = open_stream(device, self._host.audio, self.block, finished=lambda: None)
        except (LtsError, sd.PortAudioError) as err:
            self._reason = _silent(str(err))
        else:
            self._reason = None

    def set_kit(self, kit: Kit | None) -> None:
        """The kit new notes play (None: notes are ignored); sounding notes finish as they are."""
        self._kit = kit
        if self.silent_reason is None:
            self._host.select(kit)

    def tap(self, note: int, velocity: int = 100, hold_s: float = 1.0) -> None:
        """A key of the computer keyboard (terminals report presses, not releases): note-on now,
        note-off ``hold_s`` seconds later; a tap of a sounding note retriggers and extends it."""
        with self._held_lock:
            self._held[note] = time.monotonic() + hold_s
        if self.silent_reason is None:
            self._host.tap(note, velocity, hold_s)

    def note_on(self, note: int, velocity: int) -> None:
        """Start ``note`` (0–127) at ``velocity`` (1–127); it sounds until :meth:`note_off`."""
        with self._held_lock:
            self._held[note] = math.inf
        self._send(mido.Message("note_on", note=note, velocity=velocity))

    def note_off(self, note: int) -> None:
        """Release ``note``: it fades out over the kit's release time."""
        with self._held_lock:
            self._held.pop(note, None)
        self._send(mido.Message("note_off", note=note))

    def control_change(self, control: int, value: int) -> None:
        """A MIDI controller, e.g. CC1 (the mod wheel) morphs a morph kit's layers."""
        self._send(mido.Message("control_change", control=control, value=value))

    def preview(self, y: np.ndarray, sample_rate: int) -> None:
        """Play ``y`` [n] (or [n, channels], mixed down) at ``sample_rate`` Hz once, instead of
        the preview playing; resampled here (about 0.2 ms per second of audio)."""
        y = np.asarray(y, dtype=np.float32)
        y = y.mean(axis=1) if y.ndim == 2 else y
        if y.ndim != 1 or sample_rate <= 0:
            raise LtsError(f"a preview is [n] samples at a positive rate, got shape {y.shape} at {sample_rate} Hz")
        self._preview_until = time.monotonic() + len(y) / sample_rate
        if self.silent_reason is None:
            self._host.preview(soxr.resample(y, sample_rate, self._device.sample_rate))

    def stop(self) -> None:
        """Silence at once: all notes off, all sound off, no preview."""
        with self._held_lock:
            self._held.clear()
        self._preview_until = 0.0
        if self.silent_reason is None:
            self._host.silence()

    def sounding(self) -> set[int]:
        """The MIDI notes sounding now, releases included; when silent, the notes held or tapped
        and not yet released."""
        if self.silent_reason is None:
            return set(self._host.sounding)
        now = time.monotonic()
        with self._held_lock:
            return {note for note, until in self._held.items() if until > now}

    def previewing(self) -> bool:
        """Whether a preview plays (by the clock: true from :meth:`preview` for its duration)."""
        return time.monotonic() < self._preview_until

    def midi_inputs(self) -> tuple[list[str], str | None]:
        """The MIDI input ports, and None; or ``([], why)`` when there are none."""
        try:
            api = midi_api(None)
            names = input_names(api)
        except LtsError as err:
            return [], str(err)
        if names:
            return names, None
        return [], f"no MIDI input ports ({api} MIDI): connect a keyboard" + (", or start JACK" if api == "jack" else "")

    def listen(self, port: str | None) -> None:
        """Play the MIDI input ``port`` (its name, or part of it) instead of the one before;
        None closes it. LtsError (one line, naming the ports) when it cannot be opened."""
        if port is None:
            self._close_midi()
            return
        api = midi_api(None)
        name = find_input(api, port, no_ports="connect a keyboard")
        self._close_midi()
        self._midi = MidiIn(api, client_name=f"{JACK_NAME} midi", port=name, callback=self._receive)
        self.listening = name
        _silence_libjack(sys.modules.get("rtmidi._rtmidi"))

    def close(self) -> None:
        """Stop the stream and the MIDI input; calling it again does nothing."""
        self._close_midi()
        if self.silent_reason is None:
            with quiet_native():
                self._stream.stop()
                self._stream.close()
        self._reason, self._stream = NOT_OPEN, None

    # --- any thread ---------------------------------------------------------------------------

    def _send(self, message: mido.Message) -> None:
        """Play ``message`` at the next block, when there is sound."""
        if self.silent_reason is None:
            self._host.send(message)

    def _receive(self, data: list[int]) -> None:
        """A message's bytes from the MIDI driver (its thread)."""
        try:
            message = mido.Message.from_bytes(data)
        except ValueError:  # not a whole channel message
            return
        if message.type == "note_on" and message.velocity > 0:
            self.note_on(message.note, message.velocity)
        elif message.type in ("note_on", "note_off"):
            self.note_off(message.note)
        elif message.type == "control_change":
            self.control_change(message.control, message.value)

    def _close_midi(self) -> None:
        midi, self._midi, self.listening = self._midi, None, None
        if midi is not None:
            midi.close()


def _silent(why: str) -> str:
    """A ``silent_reason``: ``why`` (an LtsError's message) and how to hear."""
    return f"{why}; {HOW_TO_HEAR}"


_NOWHERE = ctypes.CFUNCTYPE(None, ctypes.c_char_p)(lambda message: None)


def _silence_libjack(module) -> None:
    """Send the messages of the libjack that the extension ``module`` uses (python-rtmidi's
    wheels bundle their own) nowhere: its threads print them when JACK quits, over the UI.
    PortAudio does so for the libjack it uses."""
    with contextlib.suppress(OSError, AttributeError):  # no such module, or no JACK in it
        libjack = ctypes.CDLL(module.__file__)
        libjack.jack_set_error_function(_NOWHERE)
        libjack.jack_set_info_function(_NOWHERE)
