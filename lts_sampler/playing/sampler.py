"""The sampler engine: plays a kit as its SFZ declares it, block by block, in NumPy.

What a kit's SFZ says (:func:`lts_sampler.kits.make.sfz_text`) and how it is played here:

- ``keys`` mode: one region per key, ``pitch_keytrack=0``: the sample as rendered.
- ``morph`` and ``grid`` modes: every layer spans its bank's keys (``lokey``–``hikey``; a kit
  of several pitches has a bank per pitch, so a note plays only its bank's regions, one per
  layer) and is transposed by resampling (linear interpolation) relative to its
  ``pitch_keycenter``.
- Crossfades on any controller, as ``xfin_locc{N}``/``xfin_hicc{N}`` (fade in as CC N rises
  over the range) and ``xfout_locc{N}``/``xfout_hicc{N}`` (fade out), with
  ``xf_cccurve=power`` (gains √t and √(1 − t)): a morph kit fades its layers on the mod wheel
  (CC1), a grid kit its cells on two controllers (X and Y), and a region's gain is the product
  of its fades on every controller, as SFZ players do. Every controller starts at 0
  (``set_ccN=0``); the gains follow the controllers while notes sound, ramped over each block.
- Sustain loops (``loop_mode=loop_sustain``, ``loop_start``/``loop_end`` in sample frames,
  the end inclusive): while its key is held (or the sustain pedal holds it) a note plays its
  loop over and over; after note-off it plays on from where it is, through the loop end into
  the rest of the sample, under its release. A bank's regions share one loop
  (:mod:`lts_sampler.synthesis.loops`), so a note's layers loop together.
- ``ampeg_release``: a linear fade to silence after note-off; amplitude ∝ velocity² (SFZ's
  default ``amp_veltrack=100``); round robins by ``seq_length``/``seq_position``, one counter
  per layer and key range.

MIDI, on every channel: note on/off; every controller 0–127 is kept (for the crossfades), and
four are engine controls too: sustain pedal (CC64), all sound off (CC120), reset controllers
(CC121: every controller back to 0), all notes off (CC123). Anything else, or garbage, is
ignored. The engine is not thread-safe: one thread feeds it and renders.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import ClassVar

import mido
import numpy as np
import soundfile as sf

from lts_sampler.core.errors import BadValue, LtsError
from lts_sampler.core.kitformat import RELEASE_S, read_manifest
from lts_sampler.core.pad import Grid

SUSTAIN_CC, ALL_SOUND_OFF_CC, RESET_CC, ALL_NOTES_OFF_CC = 64, 120, 121, 123
STEAL_FADE_S = 0.005
"""A stolen voice fades out this fast instead of stopping with a click."""
CROSSFADE = re.compile(r"(xfin|xfout)_(lo|hi)cc(\d+)")
UNFADED = {"xfin": (0, 0), "xfout": (127, 127)}
"""SFZ's defaults for a crossfade range of which kit.json gives one end only."""


@dataclasses.dataclass(frozen=True)
class Region:
    """One sample and where it plays: keys ``lokey``–``hikey``; transposed relative to
    ``keycenter`` (None: never transposed); ``layer`` and ``round_robin`` (1-based) as in
    kit.json; ``index``, its place in the kit's regions; crossfades ``xfin`` and ``xfout``,
    controller → (lo, hi): the region fades in (out) as that controller rises from lo to hi;
    ``loop``, its sustain loop (first and last frame) or None."""

    audio: np.ndarray  # [n + 1] float32: the sample and a zero, a view of the kit's store
    start: int  # where ``audio`` begins in the kit's store
    index: int
    lokey: int
    hikey: int
    keycenter: int | None
    layer: int
    round_robin: int
    xfin: dict[int, tuple[int, int]]
    xfout: dict[int, tuple[int, int]]
    loop: tuple[int, int] | None = None

    def crossfade(self, cc: int) -> np.ndarray:
        """The region's gain [128] at each value 0–127 of controller ``cc`` (power curve; 1
        where it does not fade on ``cc``)."""
        values = np.arange(128)
        gain = np.ones(128)
        if cc in self.xfin:
            gain *= np.sqrt(_ramp(values, *self.xfin[cc]))
        if cc in self.xfout:
            gain *= np.sqrt(1.0 - _ramp(values, *self.xfout[cc]))
        return gain


def _ramp(cc: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, linear between."""
    if hi <= lo:
        return (cc >= hi).astype(float)
    return np.clip((cc - lo) / (hi - lo), 0.0, 1.0)


@dataclasses.dataclass
class Kit:
    """A rendered kit in memory: its regions, all their samples back to back in ``store``
    (each followed by a zero; real part: the sample, imaginary part: the slope to the next
    sample, so that one gather fetches both for interpolation), and the kit.json stamp it
    was loaded from; ``fades`` tabulates every region's crossfade on each controller the kit
    fades on (``fade_ccs``); ``grid``, a grid kit's pad."""

    name: str
    path: Path
    sample_rate: int
    mode: str
    root: int
    regions: list[Region]
    by_note: list[list[list[Region]]]  # [128] the regions on each key: per layer, its round robins
    layers: int
    stamp: int  # kit.json's modification time (ns) when loaded
    store: np.ndarray  # [Σ (n + 1)] complex64: sample + 1j · slope
    fade_ccs: tuple[int, ...]  # ascending
    fades: np.ndarray  # [len(fade_ccs), len(regions), 128] float64: Region.crossfade of each
    grid: Grid | None

    def gains(self, controllers: Sequence[int]) -> list[float]:
        """Each region's gain at the controller values ``controllers`` [128]: the product of
        its crossfades."""
        gains = np.ones(len(self.regions))
        for cc, table in zip(self.fade_ccs, self.fades):
            gains *= table[:, controllers[cc]]
        return gains.tolist()

    def changed_on_disk(self) -> bool:
        """True once kit.json has been rewritten (the kit was rendered again)."""
        try:
            return (self.path / "kit.json").stat().st_mtime_ns != self.stamp
        except OSError:
            return False


def load_kit(path: str | Path) -> Kit:
    """A kit folder (or its kit.json) → :class:`Kit`; LtsError when it is not a readable kit."""
    folder = Path(path)
    folder = folder.parent if folder.name == "kit.json" else folder
    if not (folder / "kit.json").is_file():
        raise LtsError(f"{folder} has no kit.json; give a kit folder written by lts-sampler render")
    stamp = (folder / "kit.json").stat().st_mtime_ns
    manifest = read_manifest(folder)
    regions = manifest.get("regions")
    if not isinstance(regions, list) or not regions:
        raise LtsError(f"{folder / 'kit.json'} lists no regions; render the kit again")
    for region in regions:
        name = region.get("sample") if isinstance(region, dict) else None
        if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name:
            raise LtsError(f"{folder / 'kit.json'} names sample {name!r}, not a file in samples/; render the kit again")
    try:
        sample_rate, mode, root = int(manifest["sample_rate"]), manifest["mode"], int(manifest["root"])
        specs = manifest["regions"]
        audio = [_read_sample(folder / "samples" / r["sample"], sample_rate) for r in specs]
        store = np.concatenate([np.append(a, np.float32(0.0)) for a in audio])
        starts = np.cumsum([0] + [len(a) + 1 for a in audio[:-1]])
        regions = [_region(store[start : start + len(a) + 1], int(start), index, r, mode)
                   for index, (a, start, r) in enumerate(zip(audio, starts, specs))]
    except (KeyError, TypeError, ValueError) as err:
        raise LtsError(f"{folder / 'kit.json'} lacks a region field ({err}); render the kit again") from None
    slope = np.append(np.diff(store), np.float32(0.0))
    slope[starts[1:] - 1] = 0.0  # never interpolate into the next sample
    store = store + 1j * slope
    fade_ccs = tuple(sorted({cc for r in regions for cc in (*r.xfin, *r.xfout)}))
    fades = np.array([[r.crossfade(cc) for r in regions] for cc in fade_ccs]).reshape(len(fade_ccs), len(regions), 128)
    return Kit(
        name=str(manifest.get("name", folder.name)), path=folder, sample_rate=sample_rate, mode=mode, root=root,
        regions=regions, by_note=_by_note(regions), layers=len(manifest["layers"]), stamp=stamp,
        store=store.astype(np.complex64), fade_ccs=fade_ccs, fades=fades,
        grid=Grid.from_dict(manifest["grid"]) if "grid" in manifest else None,
    )


def _by_note(regions: list[Region]) -> list[list[list[Region]]]:
    """For each key 0–127, the regions that cover it: a list per layer (in layer order) of
    its round robins (in ``seq_position`` order). Keys covered by the same key ranges share
    one list."""
    ranges: dict[tuple[int, int], list[Region]] = {}
    for region in regions:
        ranges.setdefault((region.lokey, region.hikey), []).append(region)
    shared: dict[tuple, list[list[Region]]] = {}
    by_note = []
    for note in range(128):
        covering = tuple(r for r in ranges if r[0] <= note <= r[1])
        if covering not in shared:
            layers: dict[int, list[Region]] = {}
            for region in (region for r in covering for region in ranges[r]):
                layers.setdefault(region.layer, []).append(region)
            shared[covering] = [sorted(layers[k], key=lambda r: r.round_robin) for k in sorted(layers)]
        by_note.append(shared[covering])
    return by_note


def _read_sample(path: Path, sample_rate: int) -> np.ndarray:
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (OSError, sf.LibsndfileError) as err:
        raise LtsError(f"cannot read sample {path}: {err}; render the kit again") from None
    if rate != sample_rate:
        raise LtsError(f"sample {path} is at {rate} Hz, the kit at {sample_rate} Hz; render the kit again")
    return audio.mean(axis=1)


def _region(audio: np.ndarray, start: int, index: int, spec: dict, mode: str) -> Region:
    if mode == "keys":
        lokey = hikey = int(spec["key"])
        keycenter = None
    else:
        lokey, hikey, keycenter = int(spec["lokey"]), int(spec["hikey"]), int(spec["pitch_keycenter"])
    fades: dict[str, dict[int, tuple[int, int]]] = {"xfin": {}, "xfout": {}}
    for opcode, value in spec.items():
        if found := CROSSFADE.fullmatch(opcode):
            side, end, cc = found[1], found[2], int(found[3])
            if cc > 127:
                raise ValueError(f"{opcode} names no controller 0–127")
            lo, hi = fades[side].get(cc, UNFADED[side])
            fades[side][cc] = (int(value), hi) if end == "lo" else (lo, int(value))
    loop = None
    if spec.get("loop_mode") == "loop_sustain":
        loop = int(spec["loop_start"]), int(spec["loop_end"])
        if not 0 <= loop[0] < loop[1] < len(audio) - 1:
            raise ValueError(f"loop {loop[0]}–{loop[1]} lies outside its sample")
    return Region(audio, start, index, lokey, hikey, keycenter, int(spec["layer"]), int(spec["round_robin"]),
                  fades["xfin"], fades["xfout"], loop)


@dataclasses.dataclass
class Voice:
    """A sounding note: one region per layer, read in lockstep ``step`` source samples per
    output sample from ``position``, round the regions' shared loop until released; ``level``
    is the release envelope, falling by ``fall`` per output sample once released."""

    note: int
    kit: Kit
    regions: list[Region]
    velocity_gain: float
    step: float
    position: float = 0.0
    level: float = 1.0
    fall: float = 0.0
    sustained: bool = False
    gains: list[float] | None = None  # crossfade gain of each region in the last block

    @property
    def released(self) -> bool:
        return self.fall > 0.0

    def release(self, seconds: float, sample_rate: int) -> None:
        if not self.released:
            self.fall = 1.0 / max(1.0, seconds * sample_rate)

    def reads(self, kit_gains: list[float], frames: int) -> list[tuple]:
        """What the next ``frames`` samples read, one tuple per region that sounds:
        (first sample in the store, fraction past it, step, last sample (its zero), gain at
        the start and at the end of the block, envelope level and fall, velocity gain, the
        store index a read wraps at and by how much: the loop's end + 1 and its length, 0
        when it does not loop now), the gain ramping from the last block's to ``kit_gains``
        (:meth:`Kit.gains`, the voice's kit at the controllers now). Then moves the voice on;
        ``ended`` tells whether it is done."""
        gains = [kit_gains[region.index] for region in self.regions]
        start = gains if self.gains is None else self.gains
        self.gains = gains
        first, fraction = int(self.position), self.position - int(self.position)
        loop = self.regions[0].loop if not self.released else None
        wrap, length = (loop[1] + 1, loop[1] + 1 - loop[0]) if loop else (0, 0)
        reads = [(region.start + first, fraction, self.step, region.start + len(region.audio) - 1, g0, g1,
                  self.level, self.fall, self.velocity_gain, region.start + wrap, length)
                 for region, g0, g1 in zip(self.regions, start, gains) if g0 or g1]
        self.position += self.step * frames
        if loop and self.position >= wrap:
            self.position = loop[0] + (self.position - loop[0]) % length
        self.level = max(0.0, self.level - self.fall * frames)
        return reads

    @property
    def ended(self) -> bool:
        return self.level <= 0.0 or self.position >= len(self.regions[0].audio) - 1


class Sampler:
    """Plays a :class:`Kit` from MIDI; ``render`` gives the audio block by block.

    Parameters
    ----------
    kit : the kit new notes play (assign another to switch; sounding notes finish as they are)
    sample_rate : output rate in Hz (default: the kit's); other rates transpose by resampling
    max_voices : notes sounding at once; the oldest is stolen (faded in 5 ms) for a new one, and
        at most as many stolen ones fade at once (a burst of notes cuts the oldest fades short)
    """

    def __init__(self, kit: Kit, *, sample_rate: int | None = None, max_voices: int = 32):
        if max_voices < 1:
            raise BadValue("voices", max_voices, "a sampler needs 1 voice or more")
        self.kit = kit
        self.sample_rate = sample_rate or kit.sample_rate
        self.max_voices = max_voices
        self.voices: list[Voice] = []
        self._stolen: list[Voice] = []
        self._parser = MidiParser()
        self._sequence: dict[tuple[int, int], int] = {}  # (layer, lowest key) → note-ons so far
        self.controllers = [0] * 128  # the value of every controller
        self.sustain = False

    @property
    def active_voices(self) -> int:
        return len(self.voices) + len(self._stolen)

    def feed(self, data: bytes | bytearray | Iterable[int]) -> list[mido.Message]:
        """Parse raw MIDI bytes (running status, SysEx and stray bytes allowed), play what
        they say, and return the messages found."""
        messages = self._parser.feed(data)
        for message in messages:
            self.handle(message)
        return messages

    def handle(self, message: mido.Message) -> None:
        """Play one message; values out of range are clipped, other types ignored."""
        kind = message.type
        if kind == "note_on" and message.velocity > 0:
            self.note_on(message.note, message.velocity)
        elif kind in ("note_on", "note_off"):
            self.note_off(message.note)
        elif kind == "control_change":
            self.control_change(message.control, message.value)

    def note_on(self, note: int, velocity: int) -> None:
        note, velocity = _clip(note), _clip(velocity)
        regions = self._pick_regions(note)
        if not regions:
            return
        if len(self.voices) >= self.max_voices:
            oldest = self.voices.pop(0)
            oldest.fall = max(oldest.fall, 1.0 / max(1.0, STEAL_FADE_S * self.sample_rate))
            self._stolen.append(oldest)
            if len(self._stolen) > self.max_voices:  # a burst of notes within one block: bound its work
                del self._stolen[0]
        keycenter = regions[0].keycenter
        step = self.kit.sample_rate / self.sample_rate
        if keycenter is not None:
            step *= 2.0 ** ((note - keycenter) / 12)
        self.voices.append(Voice(note, self.kit, regions, (velocity / 127) ** 2, step))

    def note_off(self, note: int) -> None:
        for voice in self.voices:
            if voice.note == note and not voice.released:
                if self.sustain:
                    voice.sustained = True
                else:
                    voice.release(RELEASE_S, self.sample_rate)

    def control_change(self, control: int, value: int) -> None:
        control, value = _clip(control), _clip(value)
        self.controllers[control] = value
        if control == SUSTAIN_CC:
            self.sustain = value >= 64
            if not self.sustain:
                self._release(lambda voice: voice.sustained)
        elif control == ALL_NOTES_OFF_CC:
            self._release(lambda voice: True)
        elif control == ALL_SOUND_OFF_CC:
            self.voices, self._stolen = [], []
        elif control == RESET_CC:
            self.controllers, self.sustain = [0] * 128, False
            self._release(lambda voice: voice.sustained)

    def render(self, frames: int) -> np.ndarray:
        """The next ``frames`` samples of output: [frames] float32, mono."""
        out = np.zeros(frames, dtype=np.float32)
        gains: dict[int, list[float]] = {}  # id(kit) → its regions' gains at the controllers now
        by_kit: dict[int, tuple[Kit, list[tuple]]] = {}
        for voice in self.voices + self._stolen:
            key = id(voice.kit)
            if key not in gains:
                gains[key] = voice.kit.gains(self.controllers)
            reads = voice.reads(gains[key], frames)
            if reads:
                by_kit.setdefault(key, (voice.kit, []))[1].extend(reads)
        self.voices = [v for v in self.voices if not v.ended]
        self._stolen = [v for v in self._stolen if not v.ended]
        for kit, reads in by_kit.values():
            out += _mix(kit, reads, frames)
        return out

    def _pick_regions(self, note: int) -> list[Region]:
        """One region per layer for ``note``: the round robin whose turn it is (the round
        robins of a layer on one key range take turns)."""
        picked = []
        for robins in self.kit.by_note[note]:
            key = (robins[0].layer, robins[0].lokey)
            turn = self._sequence.get(key, 0)
            self._sequence[key] = turn + 1
            picked.append(robins[turn % len(robins)])
        return picked

    def _release(self, which) -> None:
        for voice in self.voices:
            if which(voice):
                voice.sustained = False
                voice.release(RELEASE_S, self.sample_rate)


def _mix(kit: Kit, reads: list[tuple], frames: int) -> np.ndarray:
    """Sum of every read (see :meth:`Voice.reads`) of one kit's store: [frames] float32.

    Each read r is a sample s_r(t), linearly interpolated, times a gain ramp (a_r + b_r·u)
    and an envelope (c_r + d_r·u), u = t + 1: so the mix is Σ_r s_r · (k0 + k1·u + k2·u²)_r,
    three vector-matrix products over the reads. An envelope that reaches zero inside the
    block silences its read from there on; a looping read that passes its loop's end goes
    on from the loop's start (whole samples back, so the interpolation is unchanged).
    """
    first, fraction, step, last, g0, g1, level, fall, velocity, wrap, length = np.array(reads).T
    first, last = first.astype(np.int32)[:, None], last.astype(np.int32)[:, None]
    ticks = np.arange(frames, dtype=np.float32)
    plain = np.all(step == 1.0) and np.all(fraction == 0.0)
    if plain:
        index = first + np.arange(frames, dtype=np.int32)
    else:
        offsets = fraction.astype(np.float32)[:, None] + step.astype(np.float32)[:, None] * ticks
        whole = offsets.astype(np.int32)
        index = whole + first
        offsets -= whole
    if np.any(length):
        wrap, length = wrap.astype(np.int32)[:, None], length.astype(np.int32)[:, None]
        past = (length > 0) & (index >= wrap)
        loop_start = wrap - length
        index = np.where(past, loop_start + (index - loop_start) % np.maximum(length, 1), index)
    index = np.minimum(index, last)
    if plain:
        sound = np.take(kit.store, index).real
    else:
        fetched = np.take(kit.store, index)
        sound = fetched.real + offsets * fetched.imag
    for row in np.flatnonzero(level - fall * frames < 0):  # released to silence within the block
        sound[row, int(np.ceil(level[row] / fall[row])) :] = 0.0
    a, b = g0 * velocity, (g1 - g0) / frames * velocity
    c, d = level, -fall
    u = ticks + 1
    out = (a * c).astype(np.float32) @ sound
    if np.any(b) or np.any(d):
        out += u * ((a * d + b * c).astype(np.float32) @ sound) + u * u * ((b * d).astype(np.float32) @ sound)
    return out


def _clip(value: int) -> int:
    return min(127, max(0, int(value)))


class MidiParser:
    """Raw MIDI bytes → channel messages, as a wire carries them: running status, SysEx
    (skipped, and cancelling running status), real-time bytes anywhere (ignored), stray
    data bytes (dropped)."""

    LENGTHS: ClassVar[dict[int, int]] = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}

    def __init__(self):
        self._status: int | None = None
        self._data: list[int] = []
        self._in_sysex = False

    def feed(self, data: bytes | bytearray | Iterable[int]) -> list[mido.Message]:
        messages = []
        for byte in bytes(int(b) & 0xFF for b in data):
            if byte >= 0xF8:  # real-time: clock, start, stop… between any bytes
                continue
            if byte >= 0x80:
                self._in_sysex = byte == 0xF0
                self._status = byte if byte < 0xF0 else None
                self._data = []
                continue
            if self._in_sysex or self._status is None:
                continue
            self._data.append(byte)
            if len(self._data) == self.LENGTHS[self._status & 0xF0]:
                messages.append(mido.Message.from_bytes([self._status, *self._data]))
                self._data = []  # the status stays: running status
        return messages
