"""Live playing: ``lts-sampler play`` (a MIDI keyboard) and ``lts-sampler bridge`` (a virtual
MIDI port a DAW plays), both sounding through PortAudio.

The engine plays in its host's audio callback (:mod:`lts_sampler.playing.host`), which polls
the MIDI port at every block; a program change selects a kit, all loaded beforehand. The
callback hands what it played to the reporter thread, which prints notes, kits and the pad,
and every quarter of a second reloads a kit rendered again on disk, handing the new kit to the
host through its queue.

A grid kit's pad moves on its two controllers (CC1 and CC2 unless the kit names others), and
the reporter prints the nearest cell whenever it changes. ``play`` on a terminal moves the pad
with the arrow keys too (POSIX terminals: the main thread reads them, the terminal in cbreak
mode until play stops); left/right step a cell along X, down/up along Y, each step passed on
as the controller message a keyboard would send, to the value where that cell sounds alone.

Audio device (:mod:`lts_sampler.playing.output`): ``--output`` takes the first output whose
name or host API contains the text; by default a running JACK server, else the system's
default output. Under JACK the audio client is named ``NAME audio`` (``lts-sampler`` for
``play``), its ports ``out_0``, ``out_1``, and PortAudio connects them to the system's
playback ports.
"""

from __future__ import annotations

import contextlib
import gc
import os
import queue
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import mido

from lts_sampler.core.errors import BadValue, LtsError
from lts_sampler.core.pad import Grid
from lts_sampler.playing.host import EngineHost, check_block, one_blas_thread, realtime_priority
from lts_sampler.playing.midi_ports import MidiIn
from lts_sampler.playing.output import AudioOutput, abandon_portaudio, open_stream
from lts_sampler.playing.sampler import RESET_CC, Kit, load_kit

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
        """The sub-folders of ``folder`` holding a kit.json, sorted by name; BadValue (field
        ``kits``) when there are none."""
        if not folder.is_dir():
            raise BadValue("kits", str(folder), "no such folder; render a kit into a sub-folder of it")
        found = sorted(p for p in folder.iterdir() if (p / "kit.json").is_file() and not p.name.startswith("."))
        if not found:
            raise BadValue("kits", str(folder), "no kits in it (sub-folders with a kit.json); render one there")
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
    """A sampler played live: MIDI from an open :class:`~lts_sampler.playing.midi_ports.MidiIn`, audio
    out through ``output``.

    Parameters
    ----------
    kits : the kits to play; the first sounds until a program change selects another
    output : the audio device, sample rate and channels (:func:`find_output`)
    voices : polyphony of the sampler
    block : frames per audio callback (256 at 44.1 kHz = 5.8 ms)
    """

    def __init__(self, kits: Kits, output: AudioOutput, *, voices: int, block: int):
        self.kits, self.output, self.block = kits, output, check_block(block)
        # callback → reporter: each message played; pad steps (X, Y) from the arrow keys; None to stop
        self._heard: queue.SimpleQueue[mido.Message | tuple[int, int] | None] = queue.SimpleQueue()
        self.host = EngineHost(kits.loaded, sample_rate=output.sample_rate, voices=voices, played=self._heard)
        self.notes = 0
        # the reporter's view
        self._kit, self._shown_program = kits[0], 0
        self._controllers = [0] * 128

    def run(self, midi: MidiIn, description: str, *, keys: int | None = None) -> int:
        """Play ``midi`` until SIGINT or SIGTERM: print a ready line first (and a grid kit's pad)
        and a summary last. ``keys``: a terminal (file descriptor) whose arrow keys move the
        pad; it is in cbreak mode until then."""
        self.host.midi = midi
        for index, why in self.kits.errors.items():
            print(f"lts-sampler: kit {index} not loaded: {why}", file=sys.stderr, flush=True)
        ended = threading.Event()  # set by a signal, or by PortAudio if the stream stops on its own
        gc.freeze()  # else a full collection, walking every object loaded so far, stalls a block for ~13 ms
        one_blas_thread()
        stream = open_stream(self.output, self.host.audio, self.block, finished=ended.set)
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
        print(f"stopped after {time.monotonic() - started:.1f} s: {self.notes} notes, underruns: {self.host.underruns}",
              flush=True)
        if not signalled:
            abandon_portaudio()
            print("lts-sampler: error: the audio stream stopped: did the audio server (JACK) quit? "
                  "see the messages above", file=sys.stderr)
            return 1
        return 0

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
            self.host.reloaded(index, kit)
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
        self.host.send(message)
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
