"""Sustain loops: held notes sound as long as the key is held, with no seam to hear.

Kits: the demo morph kit (the session's), a demo grid kit of 1.5 s cells, morph kits of four
pairs of sustained FluidR3 notes, and a kit of several pitches. Every check holds a note for
10 s at each bank's ``pitch_keycenter`` through the engine ``render-midi`` plays with, with
the controllers at the low end, the middle and the top (both of a pad's), and measures:

- sustain: from the loop start + 50 ms to note-off no 50 ms window is 10 dB under their
  median, and the last second is within 3 dB of the first;
- seams: at every loop crossing the 50 ms either side differ by at most 3 dB (or the held
  sound's own 95th-percentile step + 1.5 dB), and the energy above 4 kHz in the 5 ms round
  the crossing is at most 3× the median of the 5 ms windows 2–9 steps either side;
- pitch (the FluidR3 pairs): every 100 ms window within 10 cents of the sample's own pitch
  over its loop, unlooped (FluidR3's flute and violin have a vibrato of about ±9 cents of
  their own, so "within" is of the range of the sample's own 100 ms windows there);
- release: silent (−60 dBFS) within the release + 50 ms of note-off.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import librosa
import mido
import numpy as np
import pytest
import scipy.signal
import soundfile as sf
from support import fluid
from support.cli import demo_kit

from lts_sampler.core.kitformat import RELEASE_S, read_manifest
from lts_sampler.faces.cli import main
from lts_sampler.kits.plan import demo_sources
from lts_sampler.playing.midi_render import render_events
from lts_sampler.playing.sampler import load_kit
from lts_sampler.synthesis.loops import MIN_LOOP_S

HOLD_S, ON_S = 10.0, 0.1
WINDOW_S, CLICK_S = 0.05, 0.005
PAIRS = [("flute", "violin"), ("choir", "organ"), ("strings", "brass"), ("pad", "clarinet")]
SETTINGS = (0, 64, 127)


@pytest.fixture(scope="module")
def fluid_kits(tmp_path_factory) -> dict[str, Path]:
    """Morph kits (α 0, 0.5, 1; draft) of four pairs of FluidR3 notes at C4, and one kit of
    flute and violin notes at C3, C4 and C5 (three banks)."""
    fluid.needs_fluidsynth()
    folder = tmp_path_factory.mktemp("loops")
    kits = {}
    for a, b in PAIRS:
        sources = [fluid.play_note(folder / f"{name}.wav", name, 60, seconds=2.0) for name in (a, b)]
        kits[f"{a}-{b}"] = _render(folder / f"{a}-{b}", *map(str, sources))
    sets = [fluid.note_set(folder / name, name, [48, 60, 72], seconds=2.0) for name in ("flute", "violin")]
    kits["pitches"] = _render(folder / "pitches", *map(str, sets))
    return kits


@pytest.fixture(scope="module")
def demo_grid(tmp_path_factory) -> Path:
    """The four demo clips (1.5 s each) on a 3 × 3 pad."""
    return demo_kit(tmp_path_factory.mktemp("loops") / "grid", "--grid", "3", "--quality", "draft")


def render(*args: str) -> None:
    """``lts-sampler render`` in this process."""
    assert main(["render", *args]) == 0


def _render(out: Path, *sources: str) -> Path:
    render(*sources, "--mode", "morph", "--alphas", "0,0.5,1", "--quality", "draft", "-o", str(out))
    return out


def held(kit_folder: Path, note: int, controllers: dict[int, int]) -> tuple[np.ndarray, int]:
    """``note`` held HOLD_S seconds with ``controllers`` set first: the audio and its rate."""
    kit = load_kit(kit_folder)
    events = [(0.0, mido.Message("control_change", control=cc, value=v)) for cc, v in controllers.items()]
    events += [(ON_S, mido.Message("note_on", note=note, velocity=100)),
               (ON_S + HOLD_S, mido.Message("note_off", note=note))]
    return render_events(kit, events), kit.sample_rate


def levels_db(y: np.ndarray, rate: int) -> np.ndarray:
    """Power in dB of consecutive 50 ms windows."""
    size = round(WINDOW_S * rate)
    frames = y[: len(y) // size * size].reshape(-1, size).astype(np.float64)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def db(y: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(y.astype(np.float64) ** 2) + 1e-12))


def click_ratio(y: np.ndarray, at: int, rate: int) -> float:
    """Energy above 4 kHz in the 5 ms centred on ``at`` over the median of the 5 ms windows
    2 to 9 steps before and after. High frequencies 60 dB under the whole signal's energy
    there are no click (a bass has next to none: its ratios would compare rounding noise)."""
    size = round(CLICK_S * rate)
    near = y[at - 12 * size : at + 12 * size].astype(np.float64)
    high = scipy.signal.sosfiltfilt(scipy.signal.butter(4, 4000, "highpass", fs=rate, output="sos"), near)
    middle = 12 * size

    def energy(signal: np.ndarray, centre: int) -> float:
        return float(np.sum(signal[centre - size // 2 : centre - size // 2 + size] ** 2))

    around = [energy(high, middle + k * size) for k in [*range(-9, -1), *range(2, 10)]]
    audible = 1e-6 * energy(near, middle)
    return energy(high, middle) / max(float(np.median(around)), audible, 1e-20)


def regions_by_bank(manifest: dict) -> dict[int, list[dict]]:
    banks: dict[int, list[dict]] = {}
    for region in manifest["regions"]:
        banks.setdefault(region["pitch_keycenter"], []).append(region)
    return banks


def check_held_note(kit_folder: Path, controllers: dict[int, int], *, pitched: bool) -> None:
    """Every measure of the module's notes, for every bank of the kit."""
    manifest = read_manifest(kit_folder)
    for keycenter, regions in regions_by_bank(manifest).items():
        loops = {(r["loop_start"], r["loop_end"]) for r in regions}
        assert len(loops) == 1, f"a bank's regions share one loop, not {loops}"
        (start, end), = loops
        length = end + 1 - start
        y, rate = held(kit_folder, keycenter, controllers)
        on, off = round(ON_S * rate), round((ON_S + HOLD_S) * rate)
        what = f"{kit_folder.name}, note {keycenter}, controllers {controllers}"

        sustained = levels_db(y[on + start + round(WINDOW_S * rate) : off], rate)
        median = np.median(sustained)
        assert sustained.min() >= median - 10, f"{what}: a window {median - sustained.min():.1f} dB under the median"
        first, last = db(y[on + start : on + start + rate]), db(y[off - rate : off])
        assert abs(last - first) <= 3, f"{what}: the last second {last - first:+.1f} dB from the first"

        steps = np.abs(np.diff(sustained))
        jump_limit = max(3.0, float(np.percentile(steps, 95)) + 1.5)
        window = round(WINDOW_S * rate)
        for crossing in range(on + end + 1, off - window, length):
            jump = abs(db(y[crossing - window : crossing]) - db(y[crossing : crossing + window]))
            assert jump <= jump_limit, f"{what}: a {jump:.1f} dB jump at the seam at {crossing / rate:.2f} s"
            ratio = click_ratio(y, crossing, rate)
            assert ratio <= 3, f"{what}: a click at the seam at {crossing / rate:.2f} s ({ratio:.1f}× the HF around)"

        tail = y[off + round((RELEASE_S + 0.05) * rate) :]
        assert np.max(np.abs(tail), initial=0.0) < 1e-3, f"{what}: still sounding after the release"

        if pitched:
            sounding = [r for r in regions if _alone(r, controllers)]
            for region in sounding:
                sample, _ = sf.read(kit_folder / "samples" / region["sample"], dtype="float32")
                own = _pitch(sample[start : end + 1], rate)
                cents = 1200 * np.log2(_pitch(y[on + start : off], rate) / np.median(own))
                low, high = 1200 * np.log2(own.min() / np.median(own)), 1200 * np.log2(own.max() / np.median(own))
                assert low - 10 <= cents.min() and cents.max() <= high + 10, (
                    f"{what}: {region['sample']} held at {cents.min():+.0f}…{cents.max():+.0f} cents, "
                    f"its loop unlooped {low:+.0f}…{high:+.0f}")


def _alone(region: dict, controllers: dict[int, int]) -> bool:
    """Whether ``region`` sounds alone (unfaded) at ``controllers``."""
    for opcode in region:
        if found := re.fullmatch(r"xf(in|out)_(lo|hi)cc(\d+)", opcode):
            at = controllers.get(int(found[3]), 0)
            lo, hi = region.get(f"xf{found[1]}_locc{found[3]}"), region.get(f"xf{found[1]}_hicc{found[3]}")
            if (found[1] == "in" and at < hi) or (found[1] == "out" and at > lo):
                return False
    return True


def _pitch(y: np.ndarray, rate: int) -> np.ndarray:
    """The fundamental (Hz) of each 100 ms window."""
    size = round(0.1 * rate)
    return librosa.yin(y, fmin=80, fmax=1200, sr=rate, frame_length=size, hop_length=size, center=False)


@pytest.mark.parametrize("value", SETTINGS)
def test_demo_morph_kit_sustains_without_a_seam(morph_kit, value):
    check_held_note(morph_kit, {1: value}, pitched=False)


@pytest.mark.parametrize("value", SETTINGS)
def test_demo_grid_kit_sustains_without_a_seam(demo_grid, value):
    check_held_note(demo_grid, {1: value, 2: value}, pitched=False)


@pytest.mark.parametrize("pair", [*(f"{a}-{b}" for a, b in PAIRS), "pitches"])
def test_fluid_kits_sustain_in_tune_without_a_seam(fluid_kits, pair):
    for value in SETTINGS:
        check_held_note(fluid_kits[pair], {1: value}, pitched=True)


def test_a_transposed_note_sustains(fluid_kits):
    y, rate = held(fluid_kits["flute-violin"], 67, {1: 64})
    on, off = round(ON_S * rate), round((ON_S + HOLD_S) * rate)
    sustained = levels_db(y[on + rate // 2 : off], rate)
    assert sustained.min() >= np.median(sustained) - 10


def test_the_sfz_declares_loops_inside_every_sample(fluid_kits, morph_kit, demo_grid):
    for kit in [*fluid_kits.values(), morph_kit, demo_grid]:
        manifest = read_manifest(kit)
        text = (kit / f"{manifest['name']}.sfz").read_text()
        regions = [line for line in text.splitlines() if line.startswith("<region>")]
        for line in regions:
            opcodes = dict(item.split("=", 1) for item in line.removeprefix("<region> ").split())
            assert opcodes.get("loop_mode") == "loop_sustain", f"{kit.name}: {line}"
            start, end = int(opcodes["loop_start"]), int(opcodes["loop_end"])
            frames = sf.info(kit / "samples" / opcodes["sample"]).frames
            assert 0 < start < end < frames
            assert (end + 1 - start) / manifest["sample_rate"] >= MIN_LOOP_S


def test_each_file_splices_at_its_loop_without_a_seam(fluid_kits, morph_kit):
    for kit in [*fluid_kits.values(), morph_kit]:
        for region in read_manifest(kit)["regions"]:
            y, rate = sf.read(kit / "samples" / region["sample"], dtype="float32")
            start, end = region["loop_start"], region["loop_end"]
            spliced = np.concatenate([y[: end + 1], y[start:], y[start:]])
            at = end + 1
            window = round(WINDOW_S * rate)
            assert abs(db(spliced[at - window : at]) - db(spliced[at : at + window])) <= 3, region["sample"]
            assert click_ratio(spliced, at, rate) <= 3, region["sample"]


def test_loop_off_plays_once_and_keys_kits_loop_on_request(tmp_path):
    pair = [*demo_sources(), "--alphas", "0,1", "--quality", "draft", "--duration", "1.5"]
    render(*pair, "--mode", "morph", "--loop", "off", "-o", str(tmp_path / "off"))
    render(*pair, "-o", str(tmp_path / "keys"))
    render(*pair, "--loop", "auto", "-o", str(tmp_path / "keys-looped"))
    for name, looped in (("off", False), ("keys", False), ("keys-looped", True)):
        text = next((tmp_path / name).glob("*.sfz")).read_text()
        assert ("loop_mode=loop_sustain" in text) == looped, name


def test_samples_without_room_play_once_and_the_summary_says_so_in_one_line(tmp_path, capsys):
    render(*demo_sources(), "--mode", "morph", "--alphas", "0,0.5,1", "--quality", "draft", "--duration", "0.35",
           "-o", str(tmp_path / "short"))
    said = [line for line in capsys.readouterr().err.splitlines() if "play once" in line]
    assert len(said) == 1 and "3 of 3 samples" in said[0] and "00_a+0.00.wav" in said[0]
    assert "loop" not in (tmp_path / "short" / "short.sfz").read_text()


def test_an_older_kit_renders_again_without_loops_bit_for_bit(tmp_path):
    old = tmp_path / "old"
    render(*demo_sources(), "--mode", "morph", "--alphas", "0,1", "--quality", "draft", "--duration", "1.5",
           "--loop", "off", "-o", str(old))
    manifest = json.loads((old / "kit.json").read_text())
    del manifest["settings"]["loop"]  # as a kit.json written before loops
    (old / "kit.json").write_text(json.dumps(manifest))
    again = tmp_path / "again"
    render("--from", str(old / "kit.json"), "-o", str(again))
    for wav in sorted((old / "samples").glob("*.wav")):
        assert (again / "samples" / wav.name).read_bytes() == wav.read_bytes()
    assert "loop" not in (again / f"{read_manifest(again)['name']}.sfz").read_text()


def test_a_kit_keeps_its_loops_when_rendered_again(tmp_path, fluid_kits):
    copy = tmp_path / "kit"
    shutil.copytree(fluid_kits["flute-violin"], copy)
    render("--from", str(copy / "kit.json"), "-o", str(tmp_path / "again"))
    assert read_manifest(tmp_path / "again")["regions"] == read_manifest(copy)["regions"]
