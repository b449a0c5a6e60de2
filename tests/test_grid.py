"""Grid kits (four sounds on a timbre pad) and kits of several pitches, heard and read as a
producer would: corner cells sound like their sources, the pad moves smoothly between them,
the SFZ keeps constant power over the whole pad in any SFZ player, and each key plays the
bank of the nearest recorded pitch. The sources are FluidR3 GM notes played by FluidSynth."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
from support.cli import lts
from support.fluid import needs_fluidsynth, note_set, play_note

from lts_sampler.playing.sampler import Kit, Sampler, load_kit

pytestmark = pytest.mark.slow  # FluidSynth notes, then renders of many samples

CORNERS = ("piano", "violin", "trumpet", "steel-drum")
"""A B C D: struck, bowed, blown, hit metal."""
N = 5


def render(*args: str) -> dict:
    result = lts("render", *args, "--quality", "draft", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) | {"stderr": result.stderr}


@pytest.fixture(scope="module")
def pad(tmp_path_factory) -> tuple[Path, list[Path]]:
    """A 5 × 5 grid kit of four contrasting instruments on C4, and the four notes."""
    needs_fluidsynth()
    folder = tmp_path_factory.mktemp("pad")
    notes = [play_note(folder / f"{name}.wav", name, 60) for name in CORNERS]
    render(*map(str, notes), "--grid", str(N), "--duration", "1.5", "-o", str(folder / "pad"))
    return folder / "pad", notes


def log_cqt(path: Path) -> np.ndarray:
    """Constant-Q magnitude in dB below the clip's peak (84 semitones from C1, 11.6 ms hops)."""
    y, rate = sf.read(path, dtype="float32", always_2d=True, frames=int(1.5 * 44100))
    assert rate == 44100
    y = y.mean(axis=1)
    return librosa.amplitude_to_db(np.abs(librosa.cqt(y, sr=44100, hop_length=512, n_bins=84)), ref=np.max, top_db=80)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute log-CQT difference in dB over the frames both have."""
    n = min(a.shape[1], b.shape[1])
    return float(np.mean(np.abs(a[:, :n] - b[:, :n])))


def test_each_corner_cell_sounds_most_like_its_own_source(pad):
    kit, notes = pad
    sources = [log_cqt(note) for note in notes]
    for k, (i, j) in enumerate([(0, 0), (N - 1, 0), (0, N - 1), (N - 1, N - 1)]):
        distances = [distance(log_cqt(kit / "samples" / f"g{i}-{j}.wav"), s) for s in sources]
        assert int(np.argmin(distances)) == k, (CORNERS[k], distances)


def test_the_pad_moves_monotonically_from_corner_to_corner(pad):
    """Along every row and column, each step moves away from one end and towards the other;
    along the edges, away from one corner's source and towards the other's."""
    kit, notes = pad
    cell = {(i, j): log_cqt(kit / "samples" / f"g{i}-{j}.wav") for i in range(N) for j in range(N)}
    lines = [[(i, j) for i in range(N)] for j in range(N)] + [[(i, j) for j in range(N)] for i in range(N)]
    for line in lines:
        ends = [cell[line[0]], cell[line[-1]]]
        if line[0][1] == line[-1][1] in (0, N - 1) or line[0][0] == line[-1][0] in (0, N - 1):  # an edge of the pad
            corner = {(0, 0): 0, (N - 1, 0): 1, (0, N - 1): 2, (N - 1, N - 1): 3}
            ends += [log_cqt(notes[corner[line[0]]]), log_cqt(notes[corner[line[-1]]])]
        for start, end in zip(ends[::2], ends[1::2]):
            away = [distance(cell[c], start) for c in line]
            towards = [distance(cell[c], end) for c in line]
            assert all(np.diff(away) > 0) and all(np.diff(towards) < 0), (line, away, towards)


def sfz_regions(sfz_path: Path) -> list[dict[str, str]]:
    """Each region's opcodes, as sfzen reads them (with those inherited from <global> and <group>)."""
    import sfzen

    return [{name: op.value for name, op in region.inherited_opcodes().items()}
            for region in sfzen.SFZ(str(sfz_path)).regions()]


def gains_from_sfz(regions: list[dict[str, str]], cc: dict[int, int]) -> list[float]:
    """Each region's amplitude at controller values ``cc``, as the SFZ declares it (``regions``
    from :func:`sfz_regions`): every xfin/xfout range of every controller multiplied, shaped by
    ``xf_cccurve`` (power: √, gain: linear)."""
    gains = []
    for opcodes in regions:
        shape = np.sqrt if opcodes.get("xf_cccurve", "power") == "power" else (lambda x: x)
        gain = 1.0
        for number, value in cc.items():
            for side in ("xfin", "xfout"):
                lo, hi = opcodes.get(f"{side}_locc{number}"), opcodes.get(f"{side}_hicc{number}")
                if lo is None:
                    continue
                lo, hi = int(lo), int(hi)
                x = float(value >= hi) if hi == lo else min(max((value - lo) / (hi - lo), 0.0), 1.0)
                gain *= shape(x if side == "xfin" else 1 - x)
        gains.append(gain)
    return gains


def test_the_sfz_keeps_constant_power_over_the_whole_pad(pad):
    kit, _ = pad
    sfz = kit / "pad.sfz"
    text = sfz.read_text()
    assert "xf_cccurve=power" in text and "set_cc1=0" in text and "set_cc2=0" in text
    regions = sfz_regions(sfz)
    lattice = np.round(np.linspace(0, 127, 32)).astype(int)
    for x in lattice:
        for y in lattice:
            power = sum(g * g for g in gains_from_sfz(regions, {1: x, 2: y}))
            assert power == pytest.approx(1.0, abs=0.01), (x, y)
    names = [r["sample"] for r in json.loads((kit / "kit.json").read_text())["regions"]]
    for (x, y), corner in {(0, 0): "g0-0", (127, 0): f"g{N - 1}-0", (0, 127): f"g0-{N - 1}",
                           (127, 127): f"g{N - 1}-{N - 1}"}.items():
        sounding = [name for name, g in zip(names, gains_from_sfz(regions, {1: x, 2: y})) if g > 0]
        assert sounding == [f"{corner}.wav"]


def test_the_manifest_records_the_pad_and_renders_it_again_exactly(pad, tmp_path):
    kit, notes = pad
    manifest = json.loads((kit / "kit.json").read_text())
    grid = manifest["grid"]
    assert (grid["size"], grid["range"], grid["cc_x"], grid["cc_y"]) == (N, [0.0, 1.0], 1, 2)
    centre = next(c for c in grid["cells"] if c["cell"] == [2, 2])
    assert centre["position"] == [0.5, 0.5] and centre["weights"] == [0.25] * 4
    assert [Path(s["path"]).name for s in manifest["sources"]] == [n.name for n in notes]
    again = tmp_path / "again"
    assert lts("render", "--from", str(kit / "kit.json"), "-o", str(again)).returncode == 0
    for wav in sorted((kit / "samples").iterdir()):
        assert (again / "samples" / wav.name).read_bytes() == wav.read_bytes()


def test_a_wider_range_extrapolates_on_the_controllers_asked_for(tmp_path):
    needs_fluidsynth()
    notes = [play_note(tmp_path / f"{name}.wav", name, 60, seconds=0.5) for name in CORNERS]
    summary = render(*map(str, notes), "--grid", "3", "--grid-range", "-0.25:1.25", "--cc-x", "74", "--cc-y", "71",
                     "-o", str(tmp_path / "wide"))
    manifest = json.loads((tmp_path / "wide" / "kit.json").read_text())
    assert manifest["grid"]["cells"][0]["weights"] == [1.5625, -0.3125, -0.3125, 0.0625]  # beyond A
    assert len(summary["samples"]) == 9 and summary["grid"] == {"size": 3, "range": [-0.25, 1.25], "cc_x": 74, "cc_y": 71}
    text = (tmp_path / "wide" / "wide.sfz").read_text()
    assert "set_cc74=0" in text and "xfout_locc71=0" in text and "cc1" not in text


# --- several pitches ---------------------------------------------------------------------------

PITCHES = [48, 55, 60, 67]


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> Path:
    needs_fluidsynth()
    folder = tmp_path_factory.mktemp("sets")
    note_set(folder / "piano", "piano", PITCHES)
    note_set(folder / "flute", "flute", PITCHES)
    return folder


def fundamental(y: np.ndarray, near: float, rate: int = 44100) -> float:
    """The frequency (Hz) of the strongest spectral peak within a semitone of ``near``, over
    0.1–1.1 s of ``y`` (Hann window, zero-padded FFT, parabolic interpolation)."""
    y = y[int(0.1 * rate): int(1.1 * rate)]
    size = 1 << 19
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y)), size))
    hz = np.fft.rfftfreq(size, 1 / rate)
    band = np.flatnonzero((hz > near * 2 ** (-1 / 12)) & (hz < near * 2 ** (1 / 12)))
    k = band[np.argmax(spectrum[band])]
    a, b, c = np.log(spectrum[k - 1: k + 2])
    return float(hz[k] + (a - c) / (2 * (a - 2 * b + c)) * (hz[1] - hz[0]))


def played(kit: Kit, note: int, mod_wheel: int) -> np.ndarray:
    """1.2 s of ``note`` through the sampler engine, the mod wheel at ``mod_wheel``."""
    sampler = Sampler(kit)
    sampler.control_change(1, mod_wheel)
    sampler.note_on(note, 100)
    return sampler.render(int(1.2 * kit.sample_rate))


def test_each_set_pitch_plays_its_own_bank_untransposed(sets, tmp_path):
    render(str(sets / "piano"), str(sets / "flute"), "--alphas", "0,1", "--duration", "1.5", "-o", str(tmp_path / "pf"))
    kit = load_kit(tmp_path / "pf")
    for pitch in PITCHES:
        for wheel, instrument in ((0, "piano"), (127, "flute")):
            source, _ = sf.read(sets / instrument / f"{instrument}_{pitch}.wav", dtype="float32")
            expected = fundamental(source.mean(axis=1), librosa.midi_to_hz(pitch))
            heard = fundamental(played(kit, pitch, wheel), librosa.midi_to_hz(pitch))
            assert abs(1200 * np.log2(heard / expected)) < 5, (pitch, instrument, heard, expected)


def test_no_key_is_transposed_more_than_half_the_largest_gap(sets, tmp_path):
    summary = render(str(sets / "piano"), str(sets / "flute"), "--alphas", "0,0.5,1", "--duration", "0.5",
                     "-o", str(tmp_path / "pf"))
    assert summary["pitches"] == PITCHES
    kit = load_kit(tmp_path / "pf")
    half_gap = max(np.diff(PITCHES)) / 2
    low, high = summary["keys"]
    assert (low, high) == (48 - 3, 67 + 3)
    for key in range(low, high + 1):
        playing = [r for r in kit.regions if r.lokey <= key <= r.hikey]
        assert sorted(r.layer for r in playing) == [0, 1, 2], key  # one region per layer
        assert all(abs(key - r.keycenter) <= half_gap for r in playing), key
    names = sorted(p.name for p in (tmp_path / "pf" / "samples").iterdir())
    assert names[:3] == ["00_a+0.00_48.wav", "00_a+0.00_55.wav", "00_a+0.00_60.wav"]


def test_pitches_are_heard_when_names_do_not_tell_and_missing_ones_are_lent(sets, tmp_path):
    unnamed = note_set(tmp_path / "violin", "violin", [48, 60, 67], named=False, seconds=1.0)
    summary = render(str(sets / "piano"), str(unnamed), "--alphas", "0,1", "--duration", "0.5", "-o", str(tmp_path / "k"))
    for take, note in (("take1", "C3 (48)"), ("take2", "C4 (60)"), ("take3", "G4 (67)")):
        assert f"violin_{take}.wav: no pitch in its name; heard" in summary["stderr"]
        assert note in next(line for line in summary["stderr"].splitlines() if take in line)
    assert "source B has no note at G3 (55); its C4 (60) stands in" in summary["stderr"]  # 5 semitones, not 7
    assert summary["pitches"] == PITCHES


def test_a_grid_of_note_sets_has_a_pad_per_pitch(sets, tmp_path):
    for name in ("trumpet", "violin"):
        shutil.copytree(sets / "piano", tmp_path / name)  # stand-ins: only the layout matters here
    summary = render(str(sets / "piano"), str(sets / "flute"), str(tmp_path / "trumpet"), str(tmp_path / "violin"),
                     "--grid", "2", "--duration", "0.3", "-o", str(tmp_path / "grid"))
    assert summary["mode"] == "grid" and summary["pitches"] == PITCHES
    names = {s["file"] for s in summary["samples"]}
    assert {f"samples/g{i}-{j}_{p}.wav" for i in (0, 1) for j in (0, 1) for p in PITCHES} == names
