"""The sampler engine: plays a kit as its SFZ declares it, block by block, in NumPy.

What a kit's SFZ says (:func:`lts_sampler.kit.sfz_text`) and how it is played here:

- ``keys`` mode: one region per key, ``pitch_keytrack=0``: the sample as rendered.
- ``morph`` mode: every layer spans all keys and is transposed by resampling (linear
  interpolation) relative to its ``pitch_keycenter``; the mod wheel (CC1) crossfades the
  layers over their ``xfin``/``xfout`` ranges with ``xf_cccurve=power`` (gains √t and √(1 − t)),
  starting from ``set_cc1=0``, and keeps doing so while notes sound.
- ``ampeg_release``: a linear fade to silence after note-off; amplitude ∝ velocity² (SFZ's
  default ``amp_veltrack=100``); round robins by ``seq_length``/``seq_position``, one counter
  per layer.

MIDI, on every channel: note on/off, CC1, sustain pedal (CC64), all sound off (CC120), reset
controllers (CC121), all notes off (CC123). Anything else, or garbage, is ignored.
The engine is not thread-safe: one thread feeds it and renders.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from lts_sampler.errors import LtsError
from lts_sampler.kit import MORPH_CC, RELEASE_S, read_manifest

SUSTAIN_CC, ALL_SOUND_OFF_CC, RESET_CC, ALL_NOTES_OFF_CC = 64, 120, 121, 123
STEAL_FADE_S = 0.005
"""A stolen voice fades out this fast instead of stopping with a click."""


@dataclasses.dataclass(frozen=True)
class Region:
    """One sample and where it plays: keys ``lokey``–``hikey``; transposed relative to
    ``keycenter`` (None: never transposed); ``layer`` and ``round_robin`` (1-based) as in
    kit.json; CC1 crossfade ranges ``xfin``/``xfout`` (None: no fade on that side)."""

    audio: np.ndarray  # [n + 1] float32: the sample and a zero, a view of the kit's store
    start: int  # where ``audio`` begins in the kit's store
    lokey: int
    hikey: int
    keycenter: int | None
    layer: int
    round_robin: int
    xfin: tuple[int, int] | None
    xfout: tuple[int, int] | None

    @functools.cached_property
    def crossfade(self) -> list[float]:
        """The region's gain at each CC1 value 0–127 (power curve)."""
        cc = np.arange(128)
        gain = np.ones(128)
        if self.xfin is not None:
            gain *= np.sqrt(_ramp(cc, *self.xfin))
        if self.xfout is not None:
            gain *= np.sqrt(1.0 - _ramp(cc, *self.xfout))
        return gain.tolist()


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
    was loaded from."""

    name: str
    path: Path
    sample_rate: int
    mode: str
    root: int
    regions: list[Region]
    round_robins: int
    layers: int
    stamp: int  # kit.json's modification time (ns) when loaded
    store: np.ndarray  # [Σ (n + 1)] complex64: sample + 1j · slope

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
        regions = [_region(store[start : start + len(a) + 1], int(start), r, mode) for a, start, r in zip(audio, starts, specs)]
    except (KeyError, TypeError, ValueError) as err:
        raise LtsError(f"{folder / 'kit.json'} lacks a region field ({err}); render the kit again") from None
    slope = np.append(np.diff(store), np.float32(0.0))
    slope[starts[1:] - 1] = 0.0  # never interpolate into the next sample
    store = store + 1j * slope
    return Kit(
        name=str(manifest.get("name", folder.name)), path=folder, sample_rate=sample_rate, mode=mode, root=root,
        regions=regions, round_robins=int(manifest["settings"].get("round_robins", 1)),
        layers=len(manifest["layers"]), stamp=stamp, store=store.astype(np.complex64),
    )


def _read_sample(path: Path, sample_rate: int) -> np.ndarray:
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (OSError, sf.LibsndfileError) as err:
        raise LtsError(f"cannot read sample {path}: {err}; render the kit again") from None
    if rate != sample_rate:
        raise LtsError(f"sample {path} is at {rate} Hz, the kit at {sample_rate} Hz; render the kit again")
    return audio.mean(axis=1)


def _region(audio: np.ndarray, start: int, spec: dict, mode: str) -> Region:
    if mode == "keys":
        lokey = hikey = int(spec["key"])
        keycenter = None
    else:
        lokey, hikey, keycenter = int(spec["lokey"]), int(spec["hikey"]), int(spec["pitch_keycenter"])
    xfin = (spec["xfin_locc1"], spec["xfin_hicc1"]) if "xfin_locc1" in spec else None
    xfout = (spec["xfout_locc1"], spec["xfout_hicc1"]) if "xfout_locc1" in spec else None
    return Region(audio, start, lokey, hikey, keycenter, int(spec["layer"]), int(spec["round_robin"]), xfin, xfout)


@dataclasses.dataclass
class Voice:
    """A sounding note: one region per layer, read in lockstep ``step`` source samples per
    output sample from ``position``; ``level`` is the release envelope, falling by ``fall``
    per output sample once released."""

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

    def reads(self, cc: int, frames: int) -> list[tuple]:
        """What the next ``frames`` samples read, one tuple per region that sounds:
        (first sample in the store, fraction past it, step, last sample (its zero), gain at
        the start and at the end of the block, envelope level and fall, velocity gain).
        Then moves the voice on; ``ended`` tells whether it is done."""
        gains = [region.crossfade[cc] for region in self.regions]
        start = gains if self.gains is None else self.gains
        self.gains = gains
        first, fraction = int(self.position), self.position - int(self.position)
        reads = [(region.start + first, fraction, self.step, region.start + len(region.audio) - 1, g0, g1,
                  self.level, self.fall, self.velocity_gain)
                 for region, g0, g1 in zip(self.regions, start, gains) if g0 or g1]
        self.position += self.step * frames
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
            raise LtsError(f"a sampler needs at least 1 voice, got {max_voices}; pass --voices 1 or more")
        self.kit = kit
        self.sample_rate = sample_rate or kit.sample_rate
        self.max_voices = max_voices
        self.voices: list[Voice] = []
        self._stolen: list[Voice] = []
        self._parser = _MidiStream()
        self._sequence: dict[tuple[int, int], int] = {}  # (layer, key) → note-ons so far
        self.cc = 0
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
        if control == MORPH_CC:
            self.cc = value
        elif control == SUSTAIN_CC:
            self.sustain = value >= 64
            if not self.sustain:
                self._release(lambda voice: voice.sustained)
        elif control == ALL_NOTES_OFF_CC:
            self._release(lambda voice: True)
        elif control == ALL_SOUND_OFF_CC:
            self.voices, self._stolen = [], []
        elif control == RESET_CC:
            self.cc, self.sustain = 0, False
            self._release(lambda voice: voice.sustained)

    def render(self, frames: int) -> np.ndarray:
        """The next ``frames`` samples of output: [frames] float32, mono."""
        out = np.zeros(frames, dtype=np.float32)
        by_kit: dict[int, tuple[Kit, list[tuple]]] = {}
        for voice in self.voices + self._stolen:
            reads = voice.reads(self.cc, frames)
            if reads:
                by_kit.setdefault(id(voice.kit), (voice.kit, []))[1].extend(reads)
        self.voices = [v for v in self.voices if not v.ended]
        self._stolen = [v for v in self._stolen if not v.ended]
        for kit, reads in by_kit.values():
            out += _mix(kit, reads, frames)
        return out

    def _pick_regions(self, note: int) -> list[Region]:
        """One region per layer for ``note``: the round robin whose turn it is."""
        by_layer: dict[int, list[Region]] = {}
        for region in self.kit.regions:
            if region.lokey <= note <= region.hikey:
                by_layer.setdefault(region.layer, []).append(region)
        picked = []
        for layer, candidates in sorted(by_layer.items()):
            key = (layer, note if self.kit.mode == "keys" else -1)
            turn = self._sequence.get(key, 0)
            self._sequence[key] = turn + 1
            wanted = turn % self.kit.round_robins + 1
            picked.append(next((r for r in candidates if r.round_robin == wanted), candidates[0]))
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
    block silences its read from there on.
    """
    first, fraction, step, last, g0, g1, level, fall, velocity = np.array(reads).T
    first, last = first.astype(np.int32)[:, None], last.astype(np.int32)[:, None]
    ticks = np.arange(frames, dtype=np.float32)
    if np.all(step == 1.0) and np.all(fraction == 0.0):
        index = np.minimum(first + np.arange(frames, dtype=np.int32), last)
        sound = np.take(kit.store, index).real
    else:
        offsets = fraction.astype(np.float32)[:, None] + step.astype(np.float32)[:, None] * ticks
        whole = offsets.astype(np.int32)
        index = np.minimum(whole + first, last)
        offsets -= whole
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


class _MidiStream:
    """Raw MIDI bytes → channel messages, as a wire carries them: running status, SysEx
    (skipped, and cancelling running status), real-time bytes anywhere (ignored), stray
    data bytes (dropped)."""

    LENGTHS = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}

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
