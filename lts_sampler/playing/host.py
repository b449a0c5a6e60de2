"""One host for the sampler engine: the audio callback that alone touches it, and the queue
every other thread hands it work through. ``play`` and ``bridge`` (:mod:`lts_sampler.playing.live`)
and the terminal UI's audition (:mod:`lts_sampler.playing.audition`) all play through it.

Only one thread runs Python in time with the audio, PortAudio's callback (under JACK, JACK's
real-time thread). At the start of each block it takes the work queued by other threads
(messages, kits, taps, a preview), then the MIDI messages waiting in rtmidi's queue when a port
is polled (the MIDI driver's thread then runs no Python), and dispatches each message: a
program change selects one of the kits, anything else goes to the engine. It renders the block
(mono, copied to every output channel), adds the preview, counts the taps' hold time down in
frames, counts the underruns PortAudio reports and publishes the notes sounding. Nothing it
waits for is slow: no file is read, no kit loaded and nothing printed there.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
from collections.abc import Callable, Sequence

import mido
import numpy as np

from lts_sampler.core.errors import BadValue
from lts_sampler.playing.midi_ports import MidiIn
from lts_sampler.playing.sampler import ALL_NOTES_OFF_CC, ALL_SOUND_OFF_CC, Kit, MidiParser, Sampler

BLOCKS = range(16, 8193)
"""Frames per audio callback a host takes (256 at 44.1 kHz = 5.8 ms)."""


def check_block(block: int) -> int:
    """``block`` if a host takes it; BadValue otherwise."""
    if block not in BLOCKS:
        raise BadValue("block", block, f"give {BLOCKS[0]} to {BLOCKS[-1]} frames (256 is 5.8 ms at 44.1 kHz)")
    return block


class EngineHost:
    """A :class:`~lts_sampler.playing.sampler.Sampler` in an audio callback (:meth:`audio`).

    Parameters
    ----------
    kits : the kits a program change selects from (index 0, 1, …; None: not loaded); the first
        plays until then. Empty: silent until :meth:`select` gives one.
    sample_rate : the output's rate in Hz
    voices : polyphony of the sampler
    midi : an input port polled at every block (None: messages come through :meth:`send`)
    played : where the callback puts each message it played, for a thread that reports them
    publish_sounding : keep :attr:`sounding` up to date (a set built every block)
    """

    def __init__(self, kits: Sequence[Kit | None], *, sample_rate: int, voices: int, midi: MidiIn | None = None,
                 played: queue.SimpleQueue | None = None, publish_sounding: bool = False):
        self.sample_rate, self.voices, self.midi, self.played = sample_rate, voices, midi, played
        self.publish_sounding = publish_sounding
        self.underruns = 0
        self.sounding: frozenset[int] = frozenset()
        """The MIDI notes sounding after the last block, releases included (with ``publish_sounding``)."""
        self._work: collections.deque[tuple[Callable, tuple]] = collections.deque()
        # owned by the callback:
        self._kits = list(kits)
        self._program = 0
        self._sampler: Sampler | None = None
        self._parser = MidiParser()
        self._taps: dict[int, int] = {}  # note → frames until its note-off
        self._preview: np.ndarray | None = None
        self._preview_at = 0
        self._kit_playing = False  # False: new notes are ignored
        self._use(self._kits[0] if self._kits else None)

    # --- any thread ---------------------------------------------------------------------------

    def send(self, message: mido.Message) -> None:
        """Play ``message`` (a note, a controller, a program change) at the next block."""
        self._work.append((self._dispatch, (message,)))

    def select(self, kit: Kit | None) -> None:
        """Play ``kit`` from now on, the only kit (None: new notes are ignored); sounding notes
        finish as they are."""
        self._work.append((self._select, (kit,)))

    def reloaded(self, program: int, kit: Kit) -> None:
        """Kit ``program`` was loaded again: it replaces the old one, at once if it is playing."""
        self._work.append((self._reloaded, (program, kit)))

    def tap(self, note: int, velocity: int, hold_s: float) -> None:
        """Note-on now and note-off ``hold_s`` seconds later; a tap of a sounding note
        retriggers it, as a pianist plays a key again."""
        self._work.append((self._tap, (note, velocity, round(hold_s * self.sample_rate))))

    def preview(self, y: np.ndarray) -> None:
        """Play ``y`` [n] float32 at the host's rate once, instead of the preview playing."""
        self._work.append((self._start_preview, (y,)))

    def silence(self) -> None:
        """All notes off, all sound off, no preview, at the next block."""
        self._work.append((self._silence, ()))

    # --- the audio callback -------------------------------------------------------------------

    def audio(self, outdata, frames: int, time_info, status) -> None:
        """PortAudio's callback: ``outdata`` [frames, channels] float32 to fill."""
        if status.output_underflow:
            self.underruns += 1
        while self._work:
            action, args = self._work.popleft()
            action(*args)
        if self.midi is not None:
            for data in self.midi.pending():
                for message in self._parser.feed(data):
                    self._dispatch(message)
        sampler = self._sampler
        mix = sampler.render(frames) if sampler is not None else np.zeros(frames, np.float32)
        if self._taps:
            self._count_down_taps(frames)
        if self._preview is not None:
            part = self._preview[self._preview_at : self._preview_at + frames]
            mix[: len(part)] += part
            self._preview_at += frames
            if self._preview_at >= len(self._preview):
                self._preview = None
        outdata[:] = mix[:, None]
        if self.publish_sounding:
            self.sounding = frozenset(voice.note for voice in sampler.voices) if sampler is not None else frozenset()

    def _count_down_taps(self, frames: int) -> None:
        for note, left in list(self._taps.items()):
            self._taps[note] = left - frames
            if left <= frames:
                self._release(note)

    def _dispatch(self, message: mido.Message) -> None:
        """One message: a program change selects a kit, if loaded; the rest goes to the engine."""
        if message.type == "program_change":
            if message.program < len(self._kits) and self._kits[message.program] is not None:
                self._program = message.program
                self._use(self._kits[message.program])
        elif self._sampler is not None and (self._kit_playing or message.type != "note_on"):
            self._sampler.handle(message)
        if self.played is not None:
            self.played.put(message)

    def _use(self, kit: Kit | None) -> None:
        self._kit_playing = kit is not None
        if kit is None:
            return
        if self._sampler is None:
            self._sampler = Sampler(kit, sample_rate=self.sample_rate, max_voices=self.voices)
        else:
            self._sampler.kit = kit

    def _select(self, kit: Kit | None) -> None:
        self._kits, self._program = [kit], 0
        self._use(kit)

    def _reloaded(self, program: int, kit: Kit) -> None:
        self._kits[program] = kit
        if program == self._program:
            self._use(kit)

    def _tap(self, note: int, velocity: int, hold: int) -> None:
        if self._sampler is None or not self._kit_playing:
            return
        self._sampler.note_off(note)
        self._taps[note] = hold
        self._sampler.note_on(note, velocity)

    def _release(self, note: int) -> None:
        self._taps.pop(note, None)
        if self._sampler is not None:
            self._sampler.note_off(note)

    def _start_preview(self, y: np.ndarray) -> None:
        self._preview, self._preview_at = y, 0

    def _silence(self) -> None:
        self._taps.clear()
        self._preview = None
        if self._sampler is not None:
            self._sampler.control_change(ALL_NOTES_OFF_CC, 0)
            self._sampler.control_change(ALL_SOUND_OFF_CC, 0)


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
