"""Sustain loops (DESIGN §6): where a bank's samples loop while a key is held, and each sample
made to loop there without a seam.

One loop serves every sample of a bank (all its layers and round robins): the engine reads a
note's layers in lockstep from one position, so a shared loop keeps the mod wheel's crossfade
between layers aligned at every pass, as it is on the first.

Where: after the attack (every sample's level within 6 dB of its peak, plus 100 ms), up to
the end of the steadiest stretch that gives a loop of 0.6 s: the last moment every sample's
level is within 3 dB of its level at the loop start, else 6, 12 or 20 dB (a decaying chime
needs the wider bounds; the widest where none gives 0.6 s). The loop end is
fixed there; the start is moved within 100 ms to where the 50 ms before it best match the
50 ms before the end, summed over the bank (a pitched sound's loop then spans whole periods),
and where no sample has a burst of high frequencies (it would tick at every pass).
A bank without room for a 0.3 s loop plays once.

How each sample is made to loop:

- **It holds a level.** Decaying and moving sounds (a chime, a swelling choir, a pulsing bass)
  would jump in level at every pass. Inside the loop, and in the 50 ms before it that its
  crossfade plays, the sample is brought to the level at the loop start by a slow gain (from
  the level of 50 ms windows, ±18 dB at most), entered over the 50 ms before that: a held
  note sustains like an organ, whatever the source did.
- **The seam is a crossfade baked into the sample.** The last 50 ms before the loop end fade
  into the 50 ms before the loop start, with a gain law that keeps the power of the two parts'
  measured correlation constant; playing from the loop end back to its start then continues
  exactly as the audio before the start did.
- **After the loop, the loop's start again** (0.35 s: the release and a margin): a note
  released while looping plays on from the loop end as if it had looped once more, under its
  release, with no splice.

All arrays are float32 audio at the model's rate, mono.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.signal

from lts_sampler.core.kitformat import RELEASE_S

MIN_LOOP_S = 0.3
"""A shorter loop would buzz at its own rate."""
GOOD_LOOP_S = 0.6
"""A loop this long repeats too slowly to be heard as a repeat: the steadiest bound that gives
one is taken, else the widest."""
CROSSFADE_S = 0.05
SEARCH_S = 0.1
"""How far after its earliest place the loop start is moved to match the loop end."""
ATTACK_DB, AFTER_ATTACK_S = 6.0, 0.1
STEADY_DB = (3.0, 6.0, 12.0, 20.0)
"""How far the level may fall below the loop start's, tried in turn until the loop has room."""
LEVEL_WINDOW_S, LEVEL_HOP_S = 0.05, 0.01
MAX_BOOST_DB = 18.0
HOLD_ENTRY_S = 0.05
BURST_HZ, BURST_WINDOW_S, CALM = 4000.0, 0.005, 2.0
"""A loop start is placed where the energy above BURST_HZ is at most CALM × its surroundings."""
TAIL_S = RELEASE_S + 0.1


@dataclasses.dataclass(frozen=True)
class Loop:
    """A sustain loop in sample frames: ``start`` the first frame of the loop, ``end`` its
    last (inclusive, as SFZ's ``loop_end``)."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end + 1 - self.start

    def opcodes(self) -> dict:
        """The region opcodes that declare it (and kit.json records)."""
        return {"loop_mode": "loop_sustain", "loop_start": self.start, "loop_end": self.end}


def loop_bank(samples: list[np.ndarray], sample_rate: int) -> tuple[Loop | None, list[np.ndarray]]:
    """The loop a bank's samples share (None: no room) and the samples made to loop there
    (unchanged without one). Samples [n] of one length."""
    loop = find_loop(samples, sample_rate)
    if loop is None:
        return None, samples
    return loop, [make_seamless(y, loop, sample_rate) for y in samples]


def level_db(y: np.ndarray, sample_rate: int) -> np.ndarray:
    """Power in dB of 50 ms windows every 10 ms: [1 + (n − window) // hop] (at least 1)."""
    window, hop = round(LEVEL_WINDOW_S * sample_rate), round(LEVEL_HOP_S * sample_rate)
    power = np.concatenate([[0.0], np.cumsum(y.astype(np.float64) ** 2)])
    starts = np.arange(0, max(1, len(y) - window + 1), hop)
    ends = np.minimum(starts + window, len(y))
    return 10 * np.log10((power[ends] - power[starts]) / np.maximum(1, ends - starts) + 1e-12)


def find_loop(samples: list[np.ndarray], sample_rate: int) -> Loop | None:
    """The loop for a bank (see the module's notes), or None where there is no room."""
    hop, window = round(LEVEL_HOP_S * sample_rate), round(LEVEL_WINDOW_S * sample_rate)
    fade, search = round(CROSSFADE_S * sample_rate), round(SEARCH_S * sample_rate)
    shortest = round(MIN_LOOP_S * sample_rate)
    levels = [level_db(y, sample_rate) for y in samples]
    attack = max(int(np.argmax(level >= level.max() - ATTACK_DB)) for level in levels)
    earliest = max(attack * hop + round(AFTER_ATTACK_S * sample_rate), 2 * fade)
    first = min(len(levels[0]) - 1, (earliest + hop - 1) // hop)
    usable = len(samples[0]) - round(0.02 * sample_rate)  # not into the sample's closing fade
    ends = []
    for steady in STEADY_DB:
        last = min(first + int(np.flatnonzero(level[first:] >= level[first] - steady)[-1]) for level in levels)
        ends.append(min(usable, last * hop + window) - 1)
    roomy = [end for end in ends if end + 1 - earliest >= round(GOOD_LOOP_S * sample_rate) + search]
    end = roomy[0] if roomy else ends[-1]
    if end + 1 - earliest < shortest + search:
        return None
    latest = min(earliest + search, end + 1 - shortest)
    score, burst = np.zeros(latest - earliest + 1), np.zeros(latest - earliest + 1)
    for y in samples:
        target = y[end + 1 - fade : end + 1].astype(np.float64)
        region = y[earliest - fade : latest].astype(np.float64)
        products = scipy.signal.correlate(region, target, mode="valid", method="fft")
        score += products / np.sqrt(_sums(region**2, fade)[: len(products)] * np.sum(target**2) + 1e-20)
        burst = np.maximum(burst, _bursts(y, earliest, latest, sample_rate))
    calm = burst <= CALM
    best = int(np.argmax(np.where(calm, score, -np.inf))) if calm.any() else int(np.argmin(burst))
    return Loop(earliest + best, end)


def _sums(x: np.ndarray, size: int) -> np.ndarray:
    """Sums of ``size`` consecutive values of ``x``: [len(x) − size + 1], the k-th from x[k]."""
    total = np.concatenate([[0.0], np.cumsum(x)])
    return total[size:] - total[:-size]


def _bursts(y: np.ndarray, first: int, last: int, sample_rate: int) -> np.ndarray:
    """For each frame ``first``…``last``: the energy above 4 kHz in the 5 ms round it over the
    median of the 5 ms windows 2 to 9 steps either side (high frequencies 60 dB under the
    signal there count as none): a loop that starts on a burst plays it at every pass."""
    tick = round(BURST_WINDOW_S * sample_rate)
    reach = 10 * tick
    lo, hi = max(0, first - reach - tick), min(len(y), last + reach + tick)
    part = y[lo:hi].astype(np.float64)
    high = scipy.signal.sosfiltfilt(scipy.signal.butter(4, BURST_HZ, "highpass", fs=sample_rate, output="sos"), part)
    high_energy, energy = _sums(high**2, tick), _sums(part**2, tick)
    centres = np.arange(first, last + 1) - lo - tick // 2  # where each frame's window begins in ``part``

    def at(offset: int) -> np.ndarray:
        return high_energy[np.clip(centres + offset, 0, len(high_energy) - 1)]

    around = np.median([at(k * tick) for k in [*range(-9, -1), *range(2, 10)]], axis=0)
    floor = 1e-6 * energy[np.clip(centres, 0, len(energy) - 1)]
    return at(0) / np.maximum(np.maximum(around, floor), 1e-20)


def make_seamless(y: np.ndarray, loop: Loop, sample_rate: int) -> np.ndarray:
    """``y`` [n] holding its level over ``loop`` with the seam crossfaded and the loop's start
    after its end: [loop.end + 1 + tail] float32 (see the module's notes)."""
    fade = round(CROSSFADE_S * sample_rate)
    start, end = loop.start, loop.end
    held = _hold_level(y, start - fade, start, end, sample_rate)
    ahead = held[start - fade : start].astype(np.float64)  # what plays into the loop start
    behind = held[end + 1 - fade : end + 1].astype(np.float64)
    correlation = float(np.clip(np.dot(ahead, behind) / np.sqrt(np.dot(ahead, ahead) * np.dot(behind, behind) + 1e-20),
                                -0.5, 1.0))
    t = (np.arange(fade) + 0.5) / fade
    rise, fall = np.sin(0.5 * np.pi * t), np.cos(0.5 * np.pi * t)
    norm = np.sqrt(1.0 + 2.0 * correlation * rise * fall)
    out = held[: end + 1].copy()
    out[end + 1 - fade :] = (fall * behind + rise * ahead) / norm
    tail = min(round(TAIL_S * sample_rate), loop.length)
    return np.concatenate([out, out[start : start + tail]]).astype(np.float32)


def _hold_level(y: np.ndarray, first: int, start: int, last: int, sample_rate: int) -> np.ndarray:
    """``y`` with a slow gain that brings frames ``first``…``last`` to the level at ``start``,
    entered over the ``HOLD_ENTRY_S`` before ``first`` (from 0 dB): [n] float64."""
    hop, window = round(LEVEL_HOP_S * sample_rate), round(LEVEL_WINDOW_S * sample_rate)
    level = level_db(y, sample_rate)
    centres = np.arange(len(level)) * hop + window / 2
    smooth = np.interp(np.arange(first, last + 1), centres, level)
    gain_db = np.clip(np.interp(start, centres, level) - smooth, -MAX_BOOST_DB, MAX_BOOST_DB)
    entry = max(0, first - round(HOLD_ENTRY_S * sample_rate))
    gain = np.ones(len(y))
    gain[entry:first] = 10 ** (gain_db[0] * np.linspace(0.0, 1.0, first - entry, endpoint=False) / 20)
    gain[first : last + 1] = 10 ** (gain_db / 20)
    return y * gain
