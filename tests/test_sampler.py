"""The sampler engine and offline MIDI rendering: keys, morph, grid kits and kits of several
pitches played as the kit's SFZ says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import librosa
import mido
import numpy as np
import pytest
import soundfile as sf
from support.cli import assert_one_line_error, demo_kit, lts

from lts_sampler.core.banks import Bank, Layer, RenderSettings, Source
from lts_sampler.core.kitformat import RELEASE_S
from lts_sampler.kits.make import make_kit
from lts_sampler.kits.plan import DEMO_DIR, DEMO_GRID_SOURCES
from lts_sampler.playing.midi_render import read_midi_events, render_events
from lts_sampler.playing.sampler import Sampler, load_kit
from lts_sampler.synthesis.model import ModelBundle, resolve_bundle
from lts_sampler.synthesis.pitches import key_ranges
from lts_sampler.synthesis.spectral import quiet_short_input

RATE = 44100
TICKS = 480


def _midi_file(path: Path, notes: list[tuple[float, float, int, int]], tempo_change: tuple[float, int] | None = None,
               controls: list[tuple[float, int, int]] = ()) -> Path:
    """A type-1 file: a tempo track (120 bpm, optionally another tempo from a beat on) and a
    track of (start beat, length in beats, note, velocity) notes and (beat, cc, value) controls."""
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS)
    tempo_track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500_000, time=0)])
    if tempo_change:
        beat, tempo = tempo_change
        tempo_track.append(mido.MetaMessage("set_tempo", tempo=tempo, time=round(beat * TICKS)))
    events = []
    for start, length, note, velocity in notes:
        events += [(start, mido.Message("note_on", note=note, velocity=velocity)),
                   (start + length, mido.Message("note_off", note=note, velocity=0))]
    events += [(beat, mido.Message("control_change", control=cc, value=value)) for beat, cc, value in controls]
    track, last = mido.MidiTrack(), 0
    for beat, message in sorted(events, key=lambda e: e[0]):
        tick = round(beat * TICKS)
        track.append(message.copy(time=tick - last))
        last = tick
    midi.tracks += [tempo_track, track]
    midi.save(path)
    return path


def _seconds(beat: float, change_beat: float = 2.0, second_tempo: float = 1.0) -> float:
    """Seconds at ``beat`` with 0.5 s beats until ``change_beat``, then ``second_tempo`` s beats."""
    return 0.5 * min(beat, change_beat) + second_tempo * max(0.0, beat - change_beat)


def test_a_keys_kit_plays_each_keys_sample_on_time_and_stops_after_release(keys_kit, tmp_path):
    notes = [(1.0, 0.8, 60, 100), (3.0, 0.5, 64, 127), (5.0, 0.5, 68, 64)]  # beats; tempo halves at beat 2
    song = _midi_file(tmp_path / "song.mid", notes, tempo_change=(2.0, 1_000_000))
    audio = render_events(load_kit(keys_kit), read_midi_events(song))
    regions = {r["key"]: r["sample"] for r in json.loads((keys_kit / "kit.json").read_text())["regions"]}
    for start, length, note, velocity in notes:
        on, off = round(_seconds(start) * RATE), round(_seconds(start + length) * RATE)
        sample, _ = sf.read(keys_kit / "samples" / regions[note], dtype="float32")
        assert np.all(audio[on - 256 : on] == 0.0)  # silent before its time, sounding from it
        assert np.abs(audio[on : on + 64]).max() > 0
        held = audio[on:off]
        np.testing.assert_allclose(held, sample[: len(held)] * (velocity / 127) ** 2, atol=1e-6)
        after_release = off + round(RELEASE_S * RATE) + 1
        assert np.abs(audio[off : off + 100]).max() > 0  # the release is a fade, not a cut
        assert np.all(audio[after_release : after_release + RATE // 10] == 0.0)


def _mean_log_spectrum(y: np.ndarray) -> np.ndarray:
    with quiet_short_input():
        c = np.abs(librosa.cqt(y, sr=RATE, hop_length=512, fmin=32.703, n_bins=384, bins_per_octave=48))
    return np.log(c.mean(axis=1) + 1e-6)


def _shift_in_bins(a: np.ndarray, b: np.ndarray, most: int = 16) -> float:
    """How many bins b's spectrum sits above a's: the cross-correlation peak, interpolated."""
    a, b = a - a.mean(), b - b.mean()
    lags = np.arange(-most, most + 1)
    scores = np.array([np.dot(a[max(0, -k) : len(a) - max(0, k)], b[max(0, k) : len(b) - max(0, -k)]) for k in lags])
    i = int(np.argmax(scores))
    left, centre, right = scores[i - 1], scores[i], scores[i + 1]
    return lags[i] + 0.5 * (left - right) / (left - 2 * centre + right)


def test_a_morph_kit_transposes_by_the_distance_from_its_key_centre(morph_kit, tmp_path):
    kit = load_kit(morph_kit)
    song = _midi_file(tmp_path / "up2.mid", [(0.0, 2.0, kit.root + 2, 127)])
    audio = render_events(kit, read_midi_events(song))
    layer0 = next(r for r in kit.regions if r.layer == 0).audio[:-1]
    played = audio[: round(len(layer0) / 2 ** (2 / 12))]
    cents = 25 * _shift_in_bins(_mean_log_spectrum(layer0), _mean_log_spectrum(played))  # 48 bins an octave
    assert cents == pytest.approx(200, abs=10)


def test_the_mod_wheel_moves_a_held_note_from_the_first_layer_to_the_last(morph_kit, tmp_path):
    kit = load_kit(morph_kit)
    steps = 64
    sweep = [(0.6 + 0.6 * i / steps, 1, round(127 * i / steps)) for i in range(steps + 1)]  # 0 → 127 in 0.3 s
    song = _midi_file(tmp_path / "sweep.mid", [(0.0, 3.0, kit.root, 127)], controls=sweep)
    audio = render_events(kit, read_midi_events(song))
    first = next(r for r in kit.regions if r.layer == 0).audio
    last = next(r for r in kit.regions if r.layer == kit.layers - 1).audio

    def likeness(window: slice, layer: np.ndarray) -> float:
        out, ref = audio[window], layer[window]
        return float(np.dot(out, ref) / (np.linalg.norm(out) * np.linalg.norm(ref) + 1e-12))

    before, after = slice(int(0.05 * RATE), int(0.25 * RATE)), slice(int(0.62 * RATE), int(0.82 * RATE))
    assert all(r.loop is None or r.loop[1] >= after.stop for r in kit.regions)  # the first pass: no loop yet
    assert likeness(before, first) > 0.99 and likeness(after, last) > 0.99
    assert likeness(before, last) < likeness(before, first) and likeness(after, first) < likeness(after, last)


def test_voices_are_stolen_oldest_first(keys_kit):
    sampler = Sampler(load_kit(keys_kit), max_voices=2)
    for note in (60, 61, 62):
        sampler.note_on(note, 100)
    assert [v.note for v in sampler.voices] == [61, 62]
    sampler.render(int(0.01 * RATE))  # the stolen one fades in 5 ms
    assert sampler.active_voices == 2


def test_the_sustain_pedal_holds_notes_until_it_is_lifted(keys_kit):
    sampler = Sampler(load_kit(keys_kit))
    sampler.feed([0xB0, 64, 127, 0x90, 60, 100, 0x80, 60, 0])
    sampler.render(int(0.5 * RATE))
    assert sampler.active_voices == 1
    sampler.feed([0xB0, 64, 0])
    sampler.render(int((RELEASE_S + 0.01) * RATE))
    assert sampler.active_voices == 0


def test_round_robins_take_turns(tmp_path):
    kit = load_kit(demo_kit(tmp_path / "rr", "--alphas", "0,1", "--round-robins", "2", "--duration", "0.3"))
    sampler = Sampler(kit)
    picked = []
    for _ in range(4):
        sampler.note_on(60, 100)
        picked.append(sampler.voices[-1].regions[0].round_robin)
    assert picked == [1, 2, 1, 2]


def test_random_bytes_never_raise_and_all_notes_off_silences(keys_kit):
    sampler = Sampler(load_kit(keys_kit))
    rng = np.random.default_rng(0)
    for _ in range(300):
        sampler.feed(rng.integers(0, 256, rng.integers(1, 64)).tolist())
        sampler.feed([0xF0, 0x7E, 0x01, 0xF8, 0x02, 0xF7])  # SysEx with a clock byte inside
        sampler.feed([0x90, 60, 100, 62, 100, 64, 0])  # running status
        sampler.render(64)
    sampler.note_on(300, 900)  # out of range: clipped, not raised
    assert np.isfinite(sampler.render(1024)).all()
    sampler.feed([0xB5, 123, 0])  # all notes off (the engine listens on every channel)
    sampler.render(int((RELEASE_S + 0.01) * RATE))
    assert sampler.active_voices == 0
    assert np.all(sampler.render(512) == 0.0)


def test_all_sound_off_is_immediate(keys_kit):
    sampler = Sampler(load_kit(keys_kit))
    sampler.feed([0x90, 60, 100, 0xB0, 120, 0])
    assert sampler.active_voices == 0 and np.all(sampler.render(256) == 0.0)


def test_render_midi_writes_a_wav_and_summarises(keys_kit, tmp_path):
    song = _midi_file(tmp_path / "song.mid", [(0.0, 1.0, 60, 100), (1.0, 1.0, 62, 100)])
    result = lts("render-midi", str(keys_kit), str(song), "-o", str(tmp_path / "out.wav"), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    audio, rate = sf.read(tmp_path / "out.wav")
    assert rate == RATE and summary["notes"] == 2
    assert len(audio) / RATE == pytest.approx(summary["seconds"], abs=1e-3)
    assert 1.0 + RELEASE_S <= summary["seconds"] <= 1.0 + 1.6  # the second note's sample, or its release
    assert list(tmp_path.glob(".*")) == []


@pytest.mark.parametrize("case", ["missing song", "corrupt song", "no kit.json"])
def test_render_midi_refuses_bad_input_in_one_line(case, keys_kit, tmp_path):
    song = _midi_file(tmp_path / "song.mid", [(0.0, 1.0, 60, 100)])
    kit = keys_kit
    if case == "missing song":
        song = tmp_path / "nope.mid"
    elif case == "corrupt song":
        song.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01" + bytes(range(40)))
    else:
        kit = tmp_path / "not-a-kit"
        kit.mkdir()
    out = tmp_path / "out.wav"
    result = lts("render-midi", str(kit), str(song), "-o", str(out))
    assert_one_line_error(result, {"missing song": "does not exist", "corrupt song": "cannot read MIDI file",
                                   "no kit.json": "no kit.json"}[case])
    assert not out.exists()


def _declared_regions(folder: Path) -> list[dict[str, str]]:
    """The opcodes of every ``<region>`` line of the kit's SFZ, in order."""
    text = next(folder.glob("*.sfz")).read_text()
    return [dict(re.findall(r"(\w+)=(\S+)", line)) for line in text.splitlines() if line.startswith("<region>")]


def _declared_gain(opcodes: dict[str, str], controllers: dict[int, int]) -> float:
    """A region's gain as an SFZ player computes it (``xf_cccurve=power``): the product of √t
    over its ``xfin`` ranges and √(1 − t) over its ``xfout`` ranges, t the controller's place
    in the range; controllers not given are at 0."""
    gain = 1.0
    for name, lo in opcodes.items():
        if found := re.fullmatch(r"(xfin|xfout)_locc(\d+)", name):
            hi, value = int(opcodes[f"{found[1]}_hicc{found[2]}"]), controllers.get(int(found[2]), 0)
            t = min(1.0, max(0.0, (value - int(lo)) / (hi - int(lo))))
            gain *= np.sqrt(t if found[1] == "xfin" else 1.0 - t)
    return gain


@pytest.mark.parametrize("kit_name", ["keys_kit", "morph_kit", "grid_kit"])
def test_the_engine_reads_the_regions_the_sfz_declares(kit_name, request):
    folder = request.getfixturevalue(kit_name)
    kit = load_kit(folder)
    declared = _declared_regions(folder)
    assert len(declared) == len(kit.regions)
    for opcodes, region in zip(declared, kit.regions):
        lokey, hikey = (int(opcodes["key"]),) * 2 if "key" in opcodes else (int(opcodes["lokey"]), int(opcodes["hikey"]))
        assert (region.lokey, region.hikey) == (lokey, hikey)
        assert region.keycenter == (int(opcodes["pitch_keycenter"]) if "pitch_keycenter" in opcodes else None)
        for side in ("xfin", "xfout"):
            ccs = [int(name.removeprefix(f"{side}_locc")) for name in opcodes if name.startswith(f"{side}_locc")]
            assert getattr(region, side) == {cc: (int(opcodes[f"{side}_locc{cc}"]), int(opcodes[f"{side}_hicc{cc}"]))
                                             for cc in ccs}
        assert np.array_equal(region.audio[:-1], sf.read(folder / "samples" / opcodes["sample"], dtype="float32")[0])
    if kit.mode == "morph":  # xf_cccurve=power: the layers' powers sum to 1 at every wheel position
        power = np.sum([np.square(kit.gains([0, cc] + [0] * 126)) for cc in range(128)], axis=1)
        np.testing.assert_allclose(power, 1.0, atol=1e-9)


def _cell_samples(folder: Path) -> dict[tuple[int, int], np.ndarray]:
    """A grid kit's sample of each cell (i, j), read from its WAV."""
    manifest = json.loads((folder / "kit.json").read_text())
    return {tuple(manifest["layers"][r["layer"]]["cell"]): sf.read(folder / "samples" / r["sample"], dtype="float32")[0]
            for r in manifest["regions"]}


def test_at_each_corner_of_the_pad_a_note_sounds_the_corner_cell_alone(grid_kit, tmp_path):
    corners = [(0, 0), (127, 0), (0, 127), (127, 127)]  # (CC1, CC2): cells (0, 0), (2, 0), (0, 2), (2, 2)
    controls = [(2.0 * k, cc, value) for k, corner in enumerate(corners) for cc, value in zip((1, 2), corner)]
    notes = [(2.0 * k + 0.25, 1.0, 60, 100) for k in range(len(corners))]  # after the controllers, at the kit's pitch
    song = _midi_file(tmp_path / "corners.mid", notes, controls=controls)
    audio = render_events(load_kit(grid_kit), read_midi_events(song))
    cells = _cell_samples(grid_kit)
    for (start, length, _, velocity), (x, y) in zip(notes, corners):
        on, off = round(start * 0.5 * RATE), round((start + length) * 0.5 * RATE)  # 120 bpm
        held = audio[on:off]
        expected = cells[(x // 63, y // 63)][: len(held)] * (velocity / 127) ** 2
        np.testing.assert_allclose(held, expected, atol=1e-6)


@pytest.mark.parametrize("x, y", [(0, 0), (20, 100), (32, 96), (64, 64), (90, 40), (127, 127)])
def test_anywhere_on_the_pad_a_note_mixes_the_cells_with_the_gains_the_sfz_declares(grid_kit, x, y):
    kit = load_kit(grid_kit)
    sampler = Sampler(kit)
    sampler.feed([0xB0, 1, x, 0xB0, 2, y, 0x90, 60, 127])
    played = sampler.render(int(0.4 * RATE))
    declared = _declared_regions(grid_kit)
    expected = sum(_declared_gain(opcodes, {1: x, 2: y}) * region.audio[: len(played)]
                   for opcodes, region in zip(declared, kit.regions))
    np.testing.assert_allclose(played, expected, atol=1e-5)


def test_the_declared_gains_keep_the_power_constant_over_the_whole_pad(grid_kit):
    declared = _declared_regions(grid_kit)
    lattice = list(range(0, 128, 9)) + [127]
    power = np.array([[sum(_declared_gain(opcodes, {1: x, 2: y}) ** 2 for opcodes in declared) for y in lattice]
                      for x in lattice])
    np.testing.assert_allclose(power, 1.0, atol=0.01)
    kit = load_kit(grid_kit)  # and the engine plays those gains
    for x in lattice:
        for y in lattice:
            controllers = [0] * 128
            controllers[1], controllers[2] = x, y
            np.testing.assert_allclose(kit.gains(controllers), [_declared_gain(o, {1: x, 2: y}) for o in declared])


def test_moving_cc2_while_a_note_sounds_changes_the_cells_without_a_click(grid_kit):
    block = 256
    sampler = Sampler(load_kit(grid_kit))
    sampler.feed([0x90, 60, 127])  # the pad at (0, 0): cell (0, 0) alone
    before = np.concatenate([sampler.render(block) for _ in range(40)])
    sampler.feed([0xB0, 2, 127])  # to (0, 2)
    after = np.concatenate([sampler.render(block) for _ in range(40)])
    cells = _cell_samples(grid_kit)
    first, last = cells[(0, 0)][: 80 * block], cells[(0, 2)][: 80 * block]
    np.testing.assert_allclose(before, first[: 40 * block], atol=1e-6)
    np.testing.assert_allclose(after[block:], last[41 * block :], atol=1e-6)  # the next block on: the new cell alone
    ramp = np.arange(1, block + 1) / block  # over the block the controller moved in, each gain ramps to its new value
    change = slice(40 * block, 41 * block)
    np.testing.assert_allclose(after[:block], (1 - ramp) * first[change] + ramp * last[change], atol=1e-6)
    steps = np.abs(np.diff(np.concatenate([before[-block:], after[: 2 * block]])))
    near = slice(39 * block, 42 * block)
    own = max(np.abs(np.diff(first[near])).max(), np.abs(np.diff(last[near])).max())  # the samples' own steps there
    assert steps.max() <= own + 2 / block, "a click: the output steps further than either cell's sample does"
    assert np.abs(first[40 * block] - last[40 * block]) > steps.max(), "switching cells at once would have clicked"


def test_reset_controllers_puts_the_pad_back_on_its_first_corner(grid_kit):
    sampler = Sampler(load_kit(grid_kit))
    sampler.feed([0xB0, 1, 127, 0xB0, 2, 90, 0xB3, 121, 0, 0x90, 60, 127])  # CC121 on any channel
    np.testing.assert_allclose(sampler.render(4096), _cell_samples(grid_kit)[(0, 0)][:4096], atol=1e-6)


def test_a_kit_of_several_pitches_plays_each_note_from_its_own_bank(tmp_path):
    bundle = ModelBundle.load(resolve_bundle(None), device="cpu")
    clips = [Source(DEMO_DIR / name, 0.0, 0.6) for name in DEMO_GRID_SOURCES]
    banks = key_ranges([Bank(48, tuple(clips[:2])), Bank(72, tuple(clips[2:]))])  # keys 36–60 and 61–84
    make_kit(bundle, banks, [Layer(alpha=0.0), Layer(alpha=1.0)], RenderSettings(n_iter=4), tmp_path / "pitches",
             mode="morph")
    folder = tmp_path / "pitches"
    kit = load_kit(folder)
    wavs = {(r["pitch_keycenter"], r["layer"]): sf.read(folder / "samples" / r["sample"], dtype="float32")[0]
            for r in json.loads((folder / "kit.json").read_text())["regions"]}
    for note, pitch in ((48, 48), (36, 48), (60, 48), (61, 72), (84, 72)):
        sampler = Sampler(kit)
        sampler.note_on(note, 127)
        assert [(r.keycenter, r.layer) for r in sampler.voices[0].regions] == [(pitch, 0), (pitch, 1)], note
        played = np.concatenate([sampler.render(256) for _ in range(int(0.2 * RATE) // 256)])
        sample = wavs[(pitch, 0)]  # the mod wheel at 0: layer 0 alone
        step = 2 ** ((note - pitch) / 12)  # untransposed on the bank's own pitch
        expected = np.interp(np.arange(len(played)) * step, np.arange(len(sample)), sample)
        np.testing.assert_allclose(played, expected, atol=1e-4)
    sampler = Sampler(kit)
    sampler.note_on(85, 127)  # no bank reaches 85
    assert not sampler.voices
