"""Several pitches (DESIGN §6): sources that are sets of notes, paired by pitch into banks.

A source given as a folder (its audio files, not recursive) or a glob (``'flute/*.wav'``,
quoted so the shell leaves it alone) is a set of notes. A note's pitch comes from its file
name (``flute_60.wav``, ``flute_C4.wav``, ``flute-F#3.wav``) or, failing that, from a pitch
estimate (``librosa.pyin``) that is reported so the user can check it. A plain file is used
as it is at every pitch.

Each pitch of any set gets a bank; a set without a note at that pitch lends its nearest one
(reported), up to an octave away; a pitch that some set cannot reach within an octave gets no
bank (reported). Each bank's keys run halfway to its neighbours' pitches, and the outer banks
as far again past their own, so no key is transposed by more than half the largest gap.
"""

from __future__ import annotations

import dataclasses
import glob
import itertools
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lts_sampler.core.banks import Bank, Source
from lts_sampler.core.errors import LtsError
from lts_sampler.synthesis.audio import AUDIO_SUFFIXES, load_audio

MAX_LEND = 12
"""A set lends a note at most this many semitones from the pitch it stands in for."""
ESTIMATE_SECONDS = 2.0
ESTIMATE_RATE = 22050
MIN_VOICED = 0.5
"""A pitch is heard when at least this fraction of frames is voiced, at a median voicing
probability of at least this much (FluidR3 notes: 0.76–0.98; noise and drums: 0.01–0.13)."""
NOTE_IN_NAME = re.compile(r"(?:^|[_\s.-])([A-Ga-g](?:#|s|b)?-?\d|\d{1,3})(?=$|[_\s.-])")


def is_note_set(spec: str) -> bool:
    """A folder or a glob names a set of notes; anything else one file."""
    return Path(spec).is_dir() or glob.has_magic(spec)


def pitch_in_name(path: Path) -> int | None:
    """The MIDI note a file name ends its words with (``_60``, ``_C4``, ``-Eb2``), or None."""
    import librosa

    for token in reversed(NOTE_IN_NAME.findall(path.stem)):
        if token.isdigit():
            note = int(token)
        else:
            try:
                note = int(librosa.note_to_midi(token.replace("s", "#")))
            except librosa.ParameterError:
                continue
        if 0 <= note <= 127:
            return note
    return None


def estimate_pitch(path: Path, offset: float = 0.0) -> tuple[int, float] | None:
    """(MIDI note, median f0 in Hz) of the voiced frames of a file's first ``ESTIMATE_SECONDS``
    by ``librosa.pyin``, or None when no steady pitch is heard."""
    import librosa

    y = load_audio(path, sample_rate=ESTIMATE_RATE, offset=offset, duration=ESTIMATE_SECONDS)
    if len(y) < 2048:
        return None
    f0, voiced, probability = librosa.pyin(y, fmin=librosa.note_to_hz("C1"), fmax=librosa.note_to_hz("C8"),
                                           sr=ESTIMATE_RATE, frame_length=2048)
    if np.mean(voiced) < MIN_VOICED or np.median(probability[voiced]) < MIN_VOICED:
        return None  # noise, a drum: pyin marks frames voiced, but with a probability near 0
    hz = float(np.median(f0[voiced]))
    return int(round(librosa.hz_to_midi(hz))), hz


def read_note_set(spec: str, *, offset: float = 0.0, report: Callable[[str], None] = print) -> dict[int, Path]:
    """A folder or glob → {MIDI note: file}; LtsError when no file has a recognisable pitch
    or two share one. Every estimated pitch is reported."""
    paths = sorted(Path(spec).iterdir() if Path(spec).is_dir() else map(Path, glob.glob(spec)))
    paths = [p for p in paths if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith(".")]
    if not paths:
        raise LtsError(f"source set {spec} holds no audio files; give a folder or a quoted glob of notes, e.g. 'flute/*.wav'")
    notes: dict[int, Path] = {}
    for path in paths:
        note = pitch_in_name(path)
        if note is None:
            estimate = estimate_pitch(path, offset)
            if estimate is None:
                report(f"{path}: no pitch in its name and none heard; left out")
                continue
            note, hz = estimate
            report(f"{path}: no pitch in its name; heard {hz:.1f} Hz = {_name(note)} ({note}); "
                   f"rename it (e.g. _{note}) if that is wrong")
        if note in notes:
            raise LtsError(f"source set {spec} has two notes at {_name(note)} ({note}): {notes[note].name} and "
                           f"{path.name}; keep one")
        notes[note] = path
    if not notes:
        raise LtsError(f"source set {spec} has no recognisable pitches; name its files by note (e.g. flute_60.wav "
                       "or flute_C4.wav) or give pitched notes")
    return dict(sorted(notes.items()))


def pair_by_pitch(sources: list[dict[int, Source] | Source], labels: list[str], *,
                  report: Callable[[str], None] = print) -> list[Bank]:
    """Banks from note sets ({MIDI note: excerpt}) and plain excerpts, lowest pitch first, with
    their key ranges; LtsError when no pitch is within an octave of a note in every set."""
    sets = [s for s in sources if isinstance(s, dict)]
    if not sets:
        raise LtsError("several pitches need at least one source that is a set of notes (a folder or a glob)")
    banks = []
    for pitch in sorted(set().union(*sets)):
        chosen, lent = [], []
        for label, source in zip(labels, sources):
            if not isinstance(source, dict):
                chosen.append(source)
                continue
            nearest = min(source, key=lambda note: (abs(note - pitch), note))
            chosen.append(source[nearest])
            if nearest != pitch:
                lent.append((label, nearest))
        far = [(label, note) for label, note in lent if abs(note - pitch) > MAX_LEND]
        if far:
            label, note = far[0]
            report(f"no bank at {_name(pitch)} ({pitch}): {label}'s nearest note, {_name(note)}, is over an octave away")
            continue
        for label, note in lent:
            report(f"{label} has no note at {_name(pitch)} ({pitch}); its {_name(note)} ({note}) stands in")
        banks.append(Bank(pitch, tuple(chosen)))
    if not banks:
        have = "; ".join(f"{label}: {', '.join(map(_name, s))}" for label, s in zip(labels, sources) if isinstance(s, dict))
        raise LtsError(f"the source sets share no pitch within an octave ({have}); give sets of notes in a common range")
    return key_ranges(banks)


def key_ranges(banks: list[Bank]) -> list[Bank]:
    """Each bank's keys: split halfway between neighbouring pitches (the lower bank takes the
    middle key of an even gap); the outer banks reach half the largest gap past their pitch
    (one bank alone: every key)."""
    pitches = [b.pitch for b in banks]
    if len(banks) == 1:
        return [dataclasses.replace(banks[0], lokey=0, hikey=127)]
    reach = max(b - a for a, b in itertools.pairwise(pitches)) // 2
    tops = [a + (b - a) // 2 for a, b in itertools.pairwise(pitches)] + [min(127, pitches[-1] + reach)]
    bottoms = [max(0, pitches[0] - reach)] + [top + 1 for top in tops[:-1]]
    return [dataclasses.replace(b, lokey=lo, hikey=hi) for b, lo, hi in zip(banks, bottoms, tops)]


def _name(note: int) -> str:
    import librosa

    return librosa.midi_to_note(note, unicode=False)
