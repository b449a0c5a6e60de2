"""Live playing: ``lts-sampler play`` (a MIDI keyboard) and ``lts-sampler bridge`` (a virtual
MIDI port a DAW plays), both sounding through PortAudio.

Three threads share a performance, and only the audio callback touches the sampler's voices:

- the MIDI driver's thread (rtmidi's; under JACK, JACK's real-time thread) only queues messages;
- the MIDI thread takes them in order: a program change selects a kit, a note-on first reloads
  its kit when it was rendered again on disk, and every message is then passed on; kits are
  loaded here and given to the sampler before the note that needs them;
- PortAudio's callback handles the passed messages at the start of each block, renders the
  block (mono, copied to every output channel) and counts the underruns PortAudio reports.

A grid kit's pad moves on its two controllers (CC1 and CC2 unless the kit names others), and
the MIDI thread prints the nearest cell whenever it changes. ``play`` on a terminal moves the
pad with the arrow keys too: the main thread reads them, the terminal in cbreak mode until play
stops; left/right step a cell along X, down/up along Y, each step passed on as the controller
message a keyboard would send, to the value where that cell sounds alone.

Audio device: ``--output`` takes the first output whose name or host API contains the text.
By default a running JACK server is preferred (PortAudio's JACK host API, which lists devices
only while a server runs), else the system's default output. Under JACK the audio client is
named ``NAME audio`` (``lts-sampler`` for ``play``), its ports ``out_0``, ``out_1``, and
PortAudio connects them to the system's playback ports.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import contextlib
import ctypes
import ctypes.util
import dataclasses
import gc
import os
import queue
import re
import select
import signal
import sys
import termios
import threading
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path

import mido

from lts_sampler.doctor import quiet_native
from lts_sampler.errors import LtsError
from lts_sampler.grid import Grid
from lts_sampler.sampler import RESET_CC, Kit, Sampler, load_kit

RENDER_OFFLINE = "to render offline instead: lts-sampler render-midi KIT song.mid -o out.wav"
JACK_HOSTAPI = "JACK Audio Connection Kit"
MIDI_APIS = {"alsa": "LINUX_ALSA", "jack": "UNIX_JACK"}
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
SWITCH_INTERVAL_S = 0.001
"""How soon a thread hands the GIL to the audio callback (Python's default, 5 ms, is almost a
whole 256-frame block)."""
ARROW_KEY = re.compile(rb"\x1b[\[O]([ABCD])")
"""An arrow key as a terminal sends it (in normal or application cursor mode)."""
PAD_STEPS = {b"A": (0, 1), b"B": (0, -1), b"C": (1, 0), b"D": (-1, 0)}
"""Up, down, right and left: a step on the pad in cells (X, Y)."""


def play_command(args: argparse.Namespace) -> int:
    """``lts-sampler play KIT``: a MIDI input port (``--midi-in``, default the first) plays KIT."""
    kits = Kits([Path(args.kit)])
    kit = kits.load(0)
    output = find_output(args.output, sample_rate=kit.sample_rate, jack_name="lts-sampler")
    api, backend = midi_backend(args.midi_api)
    port_name = find_midi_input(backend, api, args.midi_in)
    performance = Performance(kits, output, voices=args.voices, block=args.block)
    with midi_errors(api):
        port = backend.open_input(port_name, callback=performance.receive)
    keys = sys.stdin.fileno() if kit.grid is not None and foreground_terminal(sys.stdin) else None
    with port:
        return performance.run(f"playing {kit.name}: MIDI in '{port_name}' ({api or 'default'})", keys=keys)


def bridge_command(args: argparse.Namespace) -> int:
    """``lts-sampler bridge``: a virtual MIDI input port named ``--name`` plays the kits in
    ``--kits``; program change N selects the N-th (sorted by folder name, from 0)."""
    kits = Kits.in_folder(Path(args.kits))
    kit = kits.load(0)
    output = find_output(args.output, sample_rate=kit.sample_rate, jack_name=f"{args.name} audio")
    api, backend = midi_backend(args.midi_api)
    performance = Performance(kits, output, voices=args.voices, block=args.block)
    with midi_errors(api):
        port = backend.open_input(args.name, virtual=True, client_name=args.name, callback=performance.receive)
    names = ", ".join(f"{i}: {folder.name}" for i, folder in enumerate(kits.folders))
    with port:
        return performance.run(f"MIDI port '{args.name}' ({api or 'default'}); kits {names}")


class Kits:
    """The kit folders a program change selects from (index 0, 1, …), each loaded on first use
    and loaded again once it has been rendered anew on disk."""

    def __init__(self, folders: list[Path]):
        self.folders = folders
        self._loaded: dict[int, Kit] = {}

    @classmethod
    def in_folder(cls, folder: Path) -> Kits:
        """The sub-folders of ``folder`` holding a kit.json, sorted by name."""
        hint = f"render one: lts-sampler render --demo -o {folder / 'demo'}"
        if not folder.is_dir():
            raise LtsError(f"kits folder {folder} does not exist; {hint}")
        found = sorted(p for p in folder.iterdir() if (p / "kit.json").is_file() and not p.name.startswith("."))
        if not found:
            raise LtsError(f"no kits in {folder} (sub-folders with a kit.json); {hint}")
        return cls(found)

    def load(self, index: int) -> Kit:
        kit = self._loaded.get(index)
        if kit is None or kit.changed_on_disk():
            kit = self._loaded[index] = load_kit(self.folders[index])
        return kit


class Performance:
    """A sampler played live: MIDI messages in (any thread), audio out through ``output``.

    Parameters
    ----------
    kits : the kits to play; the first sounds until a program change selects another
    output : the audio device, sample rate and channels (:func:`find_output`)
    voices : polyphony of the sampler
    block : frames per audio callback (256 at 44.1 kHz = 5.8 ms)
    """

    def __init__(self, kits: Kits, output: AudioOutput, *, voices: int, block: int):
        if not 16 <= block <= 8192:
            raise LtsError(f"--block {block} is out of range; give 16 to 8192 frames (256 is 5.8 ms at 44.1 kHz)")
        self.kits, self.output, self.block = kits, output, block
        self.program = 0
        self.sampler = Sampler(kits.load(0), sample_rate=output.sample_rate, max_voices=voices)
        self.notes = self.underruns = 0
        self._controllers = [0] * 128  # every controller as last passed on (the MIDI thread's copy)
        # into the MIDI thread: messages from the driver, pad steps (X, Y) from the arrow keys, None to stop
        self._inbox: queue.SimpleQueue[mido.Message | tuple[int, int] | None] = queue.SimpleQueue()
        self._to_audio: collections.deque[mido.Message] = collections.deque()  # MIDI thread → audio callback

    def receive(self, message: mido.Message) -> None:
        """Take a message from the MIDI driver (its thread; must return at once)."""
        self._inbox.put(message)

    def run(self, description: str, *, keys: int | None = None) -> int:
        """Play until SIGINT or SIGTERM: print a ready line first (and a grid kit's pad) and a
        summary last. ``keys``: a terminal (file descriptor) whose arrow keys move the pad; it is
        in cbreak mode until then."""
        ended = threading.Event()  # set by a signal, or by PortAudio if the stream stops on its own
        gc.freeze()  # else a full collection, walking every object loaded so far, stalls a block for ~13 ms
        stream = open_stream(self.output, self._audio, self.block, finished=ended.set)
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        realtime_priority()  # for this thread and the MIDI thread it starts
        midi_thread = threading.Thread(target=self._midi_loop, name="midi", daemon=True)
        midi_thread.start()
        started, signalled = time.monotonic(), []

        def stop(signum, frame):
            signalled.append(signum)
            ended.set()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            with cbreak(keys) if keys is not None else contextlib.nullcontext():
                print(f"ready: {description}; audio out '{self.output.name}' [{self.output.hostapi}] "
                      f"{self.output.sample_rate} Hz, {self.block}-frame blocks; Ctrl-C stops", flush=True)
                grid = self.sampler.kit.grid
                if grid is not None:
                    print(describe_pad(grid) + ("; arrows move the pad" if keys is not None else ""))
                    print(self._pad_line(grid), flush=True)
                while not ended.is_set() and stream.active:  # a signal may land on any thread: look
                    if keys is None:
                        ended.wait(0.25)
                    elif not self._read_keys(keys, timeout=0.25):
                        keys = None  # the terminal has gone
        finally:
            self._inbox.put(None)
            midi_thread.join()
            if stream.active:  # not once the JACK server has gone: PortAudio would wait for it
                stream.stop()
                stream.close()
            for sig, handler in previous.items():  # only now: a second Ctrl-C must not cut the shutdown short
                signal.signal(sig, handler)
        print(f"stopped after {time.monotonic() - started:.1f} s: {self.notes} notes, underruns: {self.underruns}",
              flush=True)
        if not signalled:
            abandon_portaudio()
            print("lts-sampler: error: the audio stream stopped: did the audio server (JACK) quit? "
                  "see the messages above", file=sys.stderr)
            return 1
        return 0

    def _read_keys(self, fd: int, *, timeout: float) -> bool:
        """Wait up to ``timeout`` s for keys on terminal ``fd``; send each arrow key to the
        MIDI thread as a step on the pad. False once the terminal has gone."""
        if not select.select([fd], [], [], timeout)[0]:
            return True
        try:
            typed = os.read(fd, 64)
        except OSError:  # EIO: hung up
            return False
        for arrow in ARROW_KEY.findall(typed):
            self._inbox.put(PAD_STEPS[arrow])
        return bool(typed)

    def _midi_loop(self) -> None:
        while (message := self._inbox.get()) is not None:
            if isinstance(message, tuple):  # an arrow key
                self._step_pad(*message)
            elif message.type == "program_change":
                if message.program < len(self.kits.folders):
                    self._select(message.program)
            elif message.type == "note_on" and message.velocity > 0:
                if self.sampler.kit.changed_on_disk():
                    self._select(self.program)
                self._to_audio.append(message)
                self.notes += 1
                print(f"note {note_name(message.note)} ({message.note}) vel {message.velocity}", flush=True)
            elif message.type == "control_change":
                self._control(message)
            else:
                self._to_audio.append(message)

    def _control(self, message: mido.Message, *, report: bool = False) -> None:
        """Pass a controller on; on a grid kit, print where the pad stands when its nearest
        cell changes (or in any case, ``report``)."""
        grid = self.sampler.kit.grid
        before = self._pad_cell(grid) if grid is not None else None
        self._to_audio.append(message)
        if message.control == RESET_CC:
            self._controllers = [0] * 128
        else:
            self._controllers[message.control] = message.value
        if grid is not None and (report or self._pad_cell(grid) != before):
            print(self._pad_line(grid), flush=True)

    def _step_pad(self, dx: int, dy: int) -> None:
        """Move a grid kit's pad ``dx`` cells along X or ``dy`` along Y (an arrow key), to the
        controller value where the next cell sounds alone."""
        grid = self.sampler.kit.grid
        if grid is None:
            return
        i, j = self._pad_cell(grid)
        control, cell = (grid.cc_x, i + dx) if dx else (grid.cc_y, j + dy)
        value = grid.controller_value(min(grid.size - 1, max(0, cell)))
        self._control(mido.Message("control_change", control=control, value=value), report=True)

    def _pad_cell(self, grid: Grid) -> tuple[int, int]:
        return grid.nearest_cell(self._controllers[grid.cc_x], self._controllers[grid.cc_y])

    def _pad_line(self, grid: Grid) -> str:
        """``pad g2-3: x 0.50 y 0.75 (CC1 64, CC2 95)``: the nearest cell, its position on the
        pad (corner units) and the controllers' values."""
        x, y = self._controllers[grid.cc_x], self._controllers[grid.cc_y]
        i, j = grid.nearest_cell(x, y)
        return (f"pad g{i}-{j}: x {grid.position(i):.2f} y {grid.position(j):.2f} "
                f"(CC{grid.cc_x} {x}, CC{grid.cc_y} {y})")

    def _select(self, program: int) -> None:
        """Load kit ``program`` (again, if re-rendered) and give it to the sampler for new notes."""
        try:
            kit = self.kits.load(program)
        except LtsError as err:
            print(f"lts-sampler: kit {program} not loaded, still playing {self.sampler.kit.name}: {err}",
                  file=sys.stderr, flush=True)
            return
        reloaded = kit is not self.sampler.kit and program == self.program
        self.sampler.kit, self.program = kit, program
        mode = f"grid, {describe_pad(kit.grid)}" if kit.grid is not None else kit.mode
        print(f"kit {program}: {kit.name} ({mode}){' reloaded' if reloaded else ''}", flush=True)

    def _audio(self, outdata, frames: int, time_info, status) -> None:
        """PortAudio's callback: ``outdata`` [frames, channels] float32 to fill."""
        if status.output_underflow:
            self.underruns += 1
        while self._to_audio:
            self.sampler.handle(self._to_audio.popleft())
        outdata[:] = self.sampler.render(frames)[:, None]


def realtime_priority() -> None:
    """Run the calling thread, and the threads it starts, at the lowest real-time priority
    where the system allows it (as it does for a JACK user): then other programs' load cannot
    stop them while they hold Python's GIL, which the audio callback (real-time) waits for."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not permitted
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))


def note_name(note: int) -> str:
    """MIDI note number → name with octave, 60 → C4."""
    return f"{NOTE_NAMES[note % 12]}{note // 12 - 1}"


# --- the pad of a grid kit -------------------------------------------------------------------


def describe_pad(grid: Grid) -> str:
    """``3 × 3 pad, X on CC1, Y on CC2``."""
    return f"{grid.size} × {grid.size} pad, X on CC{grid.cc_x}, Y on CC{grid.cc_y}"


def foreground_terminal(stream) -> bool:
    """Whether ``stream`` is a terminal this process reads in the foreground (not a pipe, not
    started with ``&``, where changing the terminal's mode would stop the process)."""
    try:
        return stream is not None and stream.isatty() and os.tcgetpgrp(stream.fileno()) == os.getpgrp()
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def cbreak(fd: int) -> Iterator[None]:
    """Terminal ``fd`` in cbreak mode (each key at once, unechoed; Ctrl-C still a signal), its
    settings restored on the way out, however it is left."""
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


# --- MIDI ------------------------------------------------------------------------------------


def midi_backend(api: str | None) -> tuple[str | None, mido.Backend]:
    """(api, mido's rtmidi backend) for ``api`` "alsa" or "jack"; None picks ALSA where its
    sequencer can be opened, else JACK (on Linux), else the system's own MIDI."""
    try:
        import rtmidi
    except ImportError:
        raise LtsError("live MIDI needs python-rtmidi: pip install 'lts-sampler[live]'") from None
    if api is None and sys.platform.startswith("linux"):
        api = "alsa" if os.access("/dev/snd/seq", os.R_OK | os.W_OK) else "jack"
    if api is None:
        return None, mido.Backend("mido.backends.rtmidi")
    compiled = [rtmidi.get_api_name(a) for a in rtmidi.get_compiled_api()]
    if rtmidi.get_api_name(getattr(rtmidi, f"API_{MIDI_APIS[api]}")) not in compiled:
        raise LtsError(f"this python-rtmidi was built without {api} MIDI (it has: {', '.join(compiled)}); "
                       "choose another --midi-api")
    return api, mido.Backend(f"mido.backends.rtmidi/{MIDI_APIS[api]}")


@contextlib.contextmanager
def midi_errors(api: str | None) -> Iterator[None]:
    """Turn rtmidi's and mido's errors (OSError) into one-line LtsErrors with a hint for ``api``;
    silence the drivers' own chatter meanwhile."""
    hints = {"alsa": "ALSA MIDI needs a readable /dev/snd/seq (modprobe snd-seq), or use --midi-api jack",
             "jack": "is a JACK server running? start one (e.g. jackd -d alsa, or with qjackctl), or use --midi-api alsa"}
    try:
        with quiet_native():
            yield
    except OSError as err:
        raise LtsError(f"cannot open MIDI ({api or 'default'}): {str(err).rstrip('.')}; "
                       f"{hints.get(api, 'check the MIDI system')}") from None


def find_midi_input(backend: mido.Backend, api: str | None, query: str | None) -> str:
    """The input port named ``query``, else the first whose name contains it (any case),
    else the first port of all when ``query`` is None."""
    with midi_errors(api):
        names = backend.get_input_names()
    if not names:
        raise LtsError(f"no MIDI input ports ({api or 'default'} MIDI); connect a keyboard, "
                       f"or let a DAW play `lts-sampler bridge`; {RENDER_OFFLINE}")
    if query is None:
        return names[0]
    matches = [n for n in names if n == query] or [n for n in names if query.lower() in n.lower()]
    if not matches:
        raise LtsError(f"no MIDI input port matches {query!r}; the ports are: {', '.join(names)}")
    return matches[0]


# --- audio -----------------------------------------------------------------------------------


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
    sd = _sounddevice(jack_name)
    with quiet_native():
        hostapis = [api["name"] for api in sd.query_hostapis()]
        devices = list(enumerate(sd.query_devices()))
    outputs = [(i, d) for i, d in devices if d["max_output_channels"] > 0]
    if query is not None:
        chosen = [(i, d) for i, d in outputs if query.lower() in f"{d['name']} {hostapis[d['hostapi']]}".lower()]
        if not chosen:
            names = ", ".join(f"{d['name']} [{hostapis[d['hostapi']]}]" for _, d in outputs) or "none"
            raise LtsError(f"no audio output matches {query!r} (outputs: {names}); {RENDER_OFFLINE}")
    else:
        jack = [api for api in sd.query_hostapis() if api["name"] == JACK_HOSTAPI and api["default_output_device"] >= 0]
        default = jack[0]["default_output_device"] if jack else sd.default.device[1]
        chosen = [(i, d) for i, d in outputs if i == default] or outputs[:1]
        if not chosen:
            raise LtsError(f"no audio output device found; {RENDER_OFFLINE}")
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
        raise LtsError(f"cannot open audio output {output.name!r}: {err}; {RENDER_OFFLINE}") from None
    return stream


def abandon_portaudio() -> None:
    """Let the process exit without closing PortAudio: once the JACK server it played to has
    gone, PortAudio (19.6) can neither close a stream nor terminate; it waits ten minutes for
    the server, then aborts."""
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        atexit.unregister(sd._exit_handler)


_JACK_NAME: ctypes.Array | None = None
"""PortAudio keeps a pointer to its JACK client name: the buffer lives here."""


def _sounddevice(jack_name: str):
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
        raise LtsError(f"audio output needs sounddevice: pip install 'lts-sampler[live]'; {RENDER_OFFLINE}") from None
    except OSError:
        raise LtsError(f"PortAudio is not installed (apt-get install libportaudio2); {RENDER_OFFLINE}") from None
    return sounddevice
