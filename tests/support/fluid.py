"""Pitched test notes played by FluidSynth from the FluidR3 General MIDI sound font (Debian
``fluidsynth`` and ``fluid-soundfont-gm``, which ``.ci/run`` installs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import mido
import pytest

SOUND_FONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
PROGRAMS = {"piano": 0, "organ": 19, "violin": 40, "strings": 48, "choir": 52, "trumpet": 56, "brass": 61,
            "clarinet": 71, "flute": 73, "pad": 89, "steel-drum": 114}
"""General MIDI programs (0-based) of some contrasting instruments."""


def available() -> bool:
    return shutil.which("fluidsynth") is not None and SOUND_FONT.is_file()


def needs_fluidsynth() -> None:
    if not available():
        pytest.skip("needs Debian fluidsynth and fluid-soundfont-gm (apt-get install fluidsynth fluid-soundfont-gm)")


def play_note(path: Path, instrument: str, note: int, seconds: float = 1.5, velocity: int = 100) -> Path:
    """``instrument`` (a key of PROGRAMS) holding MIDI ``note`` for ``seconds``, then its
    release, as a 44.1 kHz stereo WAV at ``path``."""
    song = mido.MidiFile()
    track = mido.MidiTrack()
    song.tracks.append(track)
    ticks = round(seconds * 2 * song.ticks_per_beat)  # 120 beats a minute: 2 beats a second
    track += [mido.Message("program_change", program=PROGRAMS[instrument]),
              mido.Message("note_on", note=note, velocity=velocity),
              mido.Message("note_off", note=note, time=ticks)]
    midi = path.with_suffix(".mid")
    song.save(midi)
    subprocess.run(["fluidsynth", "-ni", "-g", "0.8", "-r", "44100", "-F", str(path), str(SOUND_FONT), str(midi)],
                   check=True, capture_output=True, timeout=60)
    midi.unlink()
    return path


def note_set(folder: Path, instrument: str, notes: list[int], *, named: bool = True, seconds: float = 1.5) -> Path:
    """A folder of ``instrument`` notes named ``{instrument}_{note}.wav`` (or, with ``named``
    false, ``{instrument}_take{k}.wav``: the pitch must be heard)."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, note in enumerate(notes):
        play_note(folder / (f"{instrument}_{note}.wav" if named else f"{instrument}_take{k + 1}.wav"), instrument,
                  note, seconds)
    return folder
