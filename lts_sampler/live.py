"""Live playing: ``lts-sampler play`` (a MIDI keyboard) and ``lts-sampler bridge`` (a virtual
MIDI port a DAW plays), both sounding through PortAudio.

Only one thread runs Python in time with the audio, PortAudio's callback (under JACK, JACK's
real-time thread); it alone touches the sampler. At the start of each block it takes the MIDI
messages waiting in rtmidi's queue (:mod:`lts_sampler.midi_ports`: the MIDI driver's thread
runs no Python), plays them (a program change selects a kit, all loaded beforehand), renders
the block (mono, copied to every output channel) and counts the underruns PortAudio reports.
It hands what it played to the reporter thread, which prints notes, kits and the pad, and
every quarter of a second reloads a kit rendered again on disk, handing the new kit back to
the callback through a queue. Nothing the callback waits for is slow: no file is read, no kit
loaded and nothing printed there.

A grid kit's pad moves on its two controllers (CC1 and CC2 unless the kit names others), and
the reporter prints the nearest cell whenever it changes. ``play`` on a terminal moves the pad
with the arrow keys too (POSIX terminals: the main thread reads them, the terminal in cbreak
mode until play stops); left/right step a cell along X, down/up along Y, each step passed on
as the controller message a keyboard would send, to the value where that cell sounds alone.

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
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import mido

from lts_sampler.doctor import quiet_native
from lts_sampler.errors import LtsError
from lts_sampler.grid import Grid
from lts_sampler.midi_ports import MidiIn, find_input, midi_api
from lts_sampler.sampler import RESET_CC, Kit, Sampler, load_kit

RENDER_OFFLINE = "to render offline instead: lts-sampler render-midi KIT song.mid -o out.wav"
JACK_HOSTAPI = "JACK Audio Connection Kit"
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
SWITCH_INTERVAL_S = 0.001
"""How soon another thread hands Python's lock to the audio callback (Python's default, 5 ms,
is almost a whole 256-frame block)."""
RELOAD_CHECK_S = 0.25
"""How often the reporter looks for kits rendered again on disk."""
ARROW_KEY = re.compile(rb"\x1b[\[O]([ABCD])")
"""An arrow key as a terminal sends it (in normal or application cursor mode)."""
PAD_STEPS = {b"A": (0, 1), b"B": (0, -1), b"C": (1, 0), b"D": (-1, 0)}
"""Up, down, right and left: a step on the pad in cells (X, Y)."""


def play_command(args: argparse.Namespace) -> int:
    """``lts-sampler play KIT``: a MIDI input port (``--midi-in``, default the first) plays KIT."""
    api = midi_api(args.midi_api)
    kits = Kits([Path(args.kit)])
    output = find_output(args.output, sample_rate=kits[0].sample_rate, jack_name="lts-sampler")
    performance = Performance(kits, output, voices=args.voices, block=args.block)
    port = find_input(api, args.midi_in, no_ports="connect a keyboard, or let a DAW play `lts-sampler bridge`; "
                      + RENDER_OFFLINE)
    keys = sys.stdin.fileno() if kits[0].grid is not None and foreground_terminal(sys.stdin) else None
    with MidiIn(api, client_name="lts-sampler midi", port=port) as midi:
        return performance.run(midi, f"playing {kits[0].name}: MIDI in '{port}' ({api})", keys=keys)


def bridge_command(args: argparse.Namespace) -> int:
    """``lts-sampler bridge``: a virtual MIDI input port named ``--name`` (or the existing port
    ``--midi-in``) plays the kits in ``--kits``; program change N selects the N-th (sorted by
    folder name, from 0)."""
    api = midi_api(args.midi_api)
    kits = Kits.in_folder(Path(args.kits))
    output = find_output(args.output, sample_rate=kits[0].sample_rate, jack_name=f"{args.name} audio")
    performance = Performance(kits, output, voices=args.voices, block=args.block)
    if args.midi_in is not None:
        port = find_input(api, args.midi_in, no_ports="create a loopback port (e.g. with loopMIDI) for the DAW")
        midi, heard = MidiIn(api, client_name=args.name, port=port), f"MIDI in '{port}'"
    else:
        midi, heard = MidiIn(api, client_name=args.name, virtual=args.name), f"MIDI port '{args.name}'"
    names = ", ".join(f"{i}: {folder.name}" for i, folder in enumerate(kits.folders))
    with midi:
        return performance.run(midi, f"{heard} ({api}); kits {names}")


class Kits:
    """The kit folders a program change selects from (index 0, 1, …), all loaded at once.

    A kit that cannot be loaded is None (the first must load: LtsError); :meth:`reload_changed`
    loads again those rendered anew on disk since.
    """

    def __init__(self, folders: list[Path]):
        self.folders = folders
        self.loaded: list[Kit | None] = [load_kit(folders[0])]
        self.errors: dict[int, str] = {}
        for index, folder in enumerate(folders[1:], start=1):
            try:
                self.loaded.append(load_kit(folder))
            except LtsError as err:
                self.loaded.append(None)
                self.errors[index] = str(err)

    def __getitem__(self, index: int) -> Kit | None:
        return self.loaded[index]

    def __len__(self) -> int:
        return len(self.loaded)

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

    def reload_changed(self) -> Iterator[tuple[int, Kit | LtsError]]:
        """Load again each kit whose kit.json was rewritten: (index, the new kit or why not)."""
        for index, kit in enumerate(self.loaded):
            if kit is not None and kit.changed_on_disk():
                try:
                    self.loaded[index] = load_kit(self.folders[index])
                except LtsError as err:
                    with contextlib.suppress(OSError):  # not again until it changes once more
                        kit.stamp = (kit.path / "kit.json").stat().st_mtime_ns
                    yield index, err
                else:
                    yield index, self.loaded[index]


class Performance:
    """A sampler played live: MIDI from an open :class:`~lts_sampler.midi_ports.MidiIn`, audio
    out through ``output``.

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
        self.sampler = Sampler(kits[0], sample_rate=output.sample_rate, max_voices=voices)
        self.notes = self.underruns = 0
        self._midi: MidiIn | None = None
        self._program = 0  # the callback's
        # callback → reporter: each message played; pad steps (X, Y) from the arrow keys; None to stop
        self._heard: queue.SimpleQueue[mido.Message | tuple[int, int] | None] = queue.SimpleQueue()
        # reporter → callback: controller messages of pad steps, (index, kit) of kits loaded again
        self._to_audio: collections.deque[mido.Message | tuple[int, Kit]] = collections.deque()
        # the reporter's view
        self._kit, self._shown_program = kits[0], 0
        self._controllers = [0] * 128

    def run(self, midi: MidiIn, description: str, *, keys: int | None = None) -> int:
        """Play ``midi`` until SIGINT or SIGTERM: print a ready line first (and a grid kit's pad)
        and a summary last. ``keys``: a terminal (file descriptor) whose arrow keys move the
        pad; it is in cbreak mode until then."""
        self._midi = midi
        for index, why in self.kits.errors.items():
            print(f"lts-sampler: kit {index} not loaded: {why}", file=sys.stderr, flush=True)
        ended = threading.Event()  # set by a signal, or by PortAudio if the stream stops on its own
        gc.freeze()  # else a full collection, walking every object loaded so far, stalls a block for ~13 ms
        one_blas_thread()
        stream = open_stream(self.output, self._audio, self.block, finished=ended.set)
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        realtime_priority()  # for this thread and the reporter it starts
        reporter = threading.Thread(target=self._report, name="reporter", daemon=True)
        reporter.start()
        started, signalled = time.monotonic(), []

        def stop(signum, frame):
            signalled.append(signum)
            ended.set()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            with cbreak(keys) if keys is not None else contextlib.nullcontext():
                print(f"ready: {description}; audio out '{self.output.name}' [{self.output.hostapi}] "
                      f"{self.output.sample_rate} Hz, {self.block}-frame blocks; Ctrl-C stops", flush=True)
                grid = self._kit.grid
                if grid is not None:
                    print(describe_pad(grid) + ("; arrows move the pad" if keys is not None else ""))
                    print(self._pad_line(grid), flush=True)
                while not ended.is_set() and stream.active:  # a signal may land on any thread: look
                    if keys is None:
                        ended.wait(0.25)
                    elif not self._read_keys(keys, timeout=0.25):
                        keys = None  # the terminal has gone
        finally:
            self._heard.put(None)
            reporter.join()
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

    # --- the audio callback -------------------------------------------------------------------

    def _audio(self, outdata, frames: int, time_info, status) -> None:
        """PortAudio's callback: ``outdata`` [frames, channels] float32 to fill."""
        if status.output_underflow:
            self.underruns += 1
        while self._to_audio:
            item = self._to_audio.popleft()
            if isinstance(item, mido.Message):
                self.sampler.handle(item)
            elif item[0] == self._program:  # a kit loaded again: if it still sounds
                self.sampler.kit = item[1]
        for data in self._midi.pending():
            for message in self.sampler.feed(data):
                if message.type == "program_change" and message.program < len(self.kits):
                    kit = self.kits[message.program]
                    if kit is not None:
                        self.sampler.kit, self._program = kit, message.program
                self._heard.put(message)
        outdata[:] = self.sampler.render(frames)[:, None]

    # --- the reporter -------------------------------------------------------------------------

    def _report(self) -> None:
        """Print what the callback played; look for kits rendered again on disk every
        :data:`RELOAD_CHECK_S` seconds. Ends on None."""
        check = time.monotonic() + RELOAD_CHECK_S
        while True:
            try:
                message = self._heard.get(timeout=max(0.0, check - time.monotonic()))
            except queue.Empty:
                message = False
            if time.monotonic() >= check:
                self._reload()
                check = time.monotonic() + RELOAD_CHECK_S
            if message is None:
                return
            if message is not False:
                self._show(message)

    def _show(self, message: mido.Message | tuple[int, int]) -> None:
        if isinstance(message, tuple):  # an arrow key
            self._step_pad(*message)
        elif message.type == "program_change":
            self._show_kit(message.program)
        elif message.type == "note_on" and message.velocity > 0:
            self.notes += 1
            print(f"note {note_name(message.note)} ({message.note}) vel {message.velocity}", flush=True)
        elif message.type == "control_change":
            self._control(message)

    def _show_kit(self, program: int, *, reloaded: bool = False) -> None:
        """Print the kit a program change selected (as the callback chose: see :meth:`_audio`)."""
        if program >= len(self.kits):
            return
        kit = self.kits[program]
        if kit is None:
            print(f"lts-sampler: kit {program} not loaded, still playing {self._kit.name}: {self.kits.errors[program]}",
                  file=sys.stderr, flush=True)
            return
        self._kit, self._shown_program = kit, program
        mode = f"grid, {describe_pad(kit.grid)}" if kit.grid is not None else kit.mode
        print(f"kit {program}: {kit.name} ({mode}){' reloaded' if reloaded else ''}", flush=True)

    def _reload(self) -> None:
        for index, kit in self.kits.reload_changed():
            if isinstance(kit, LtsError):
                print(f"lts-sampler: kit {index} not loaded again: {kit}", file=sys.stderr, flush=True)
                continue
            self._to_audio.append((index, kit))
            if index == self._shown_program:
                self._show_kit(index, reloaded=True)

    def _read_keys(self, fd: int, *, timeout: float) -> bool:
        """Wait up to ``timeout`` s for keys on terminal ``fd``; send each arrow key to the
        reporter as a step on the pad. False once the terminal has gone."""
        import select

        if not select.select([fd], [], [], timeout)[0]:
            return True
        try:
            typed = os.read(fd, 64)
        except OSError:  # EIO: hung up
            return False
        for arrow in ARROW_KEY.findall(typed):
            self._heard.put(PAD_STEPS[arrow])
        return bool(typed)

    def _control(self, message: mido.Message, *, report: bool = False) -> None:
        """Follow a controller the callback played; on a grid kit, print where the pad stands
        when its nearest cell changes (or in any case, ``report``)."""
        grid = self._kit.grid
        before = self._pad_cell(grid) if grid is not None else None
        if message.control == RESET_CC:
            self._controllers = [0] * 128
        else:
            self._controllers[message.control] = message.value
        if grid is not None and (report or self._pad_cell(grid) != before):
            print(self._pad_line(grid), flush=True)

    def _step_pad(self, dx: int, dy: int) -> None:
        """Move a grid kit's pad ``dx`` cells along X or ``dy`` along Y (an arrow key), to the
        controller value where the next cell sounds alone."""
        grid = self._kit.grid
        if grid is None:
            return
        i, j = self._pad_cell(grid)
        control, cell = (grid.cc_x, i + dx) if dx else (grid.cc_y, j + dy)
        value = grid.controller_value(min(grid.size - 1, max(0, cell)))
        message = mido.Message("control_change", control=control, value=value)
        self._to_audio.append(message)
        self._control(message, report=True)

    def _pad_cell(self, grid: Grid) -> tuple[int, int]:
        return grid.nearest_cell(self._controllers[grid.cc_x], self._controllers[grid.cc_y])

    def _pad_line(self, grid: Grid) -> str:
        """``pad g2-3: x 0.50 y 0.75 (CC1 64, CC2 95)``: the nearest cell, its position on the
        pad (corner units) and the controllers' values."""
        x, y = self._controllers[grid.cc_x], self._controllers[grid.cc_y]
        i, j = grid.nearest_cell(x, y)
        return (f"pad g{i}-{j}: x {grid.position(i):.2f} y {grid.position(j):.2f} "
                f"(CC{grid.cc_x} {x}, CC{grid.cc_y} {y})")


def realtime_priority() -> None:
    """Run the calling thread, and the threads it starts, at the lowest real-time priority
    where the system allows it (as it does for a JACK user): then other programs' load cannot
    stop them while they hold Python's GIL, which the audio callback (real-time) waits for."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not permitted
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))


def one_blas_thread() -> None:
    """Keep NumPy's matrix products on the calling thread. The engine's mixing products are
    large enough for OpenBLAS to share them with its worker threads, which run at normal
    priority: the real-time audio callback would wait for them whenever another program holds
    the core they need."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def note_name(note: int) -> str:
    """MIDI note number → name with octave, 60 → C4."""
    return f"{NOTE_NAMES[note % 12]}{note // 12 - 1}"


# --- the pad of a grid kit -------------------------------------------------------------------


def describe_pad(grid: Grid) -> str:
    """``3 × 3 pad, X on CC1, Y on CC2``."""
    return f"{grid.size} × {grid.size} pad, X on CC{grid.cc_x}, Y on CC{grid.cc_y}"


def foreground_terminal(stream) -> bool:
    """Whether ``stream`` is a POSIX terminal this process reads in the foreground (not a pipe,
    not started with ``&``, where changing the terminal's mode would stop the process)."""
    try:
        import termios  # noqa: F401 (POSIX only: elsewhere the arrow keys stay off)
    except ImportError:
        return False
    try:
        return stream is not None and stream.isatty() and os.tcgetpgrp(stream.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


@contextlib.contextmanager
def cbreak(fd: int) -> Iterator[None]:
    """Terminal ``fd`` in cbreak mode (each key at once, unechoed; Ctrl-C still a signal), its
    settings restored on the way out, however it is left. POSIX only."""
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


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
