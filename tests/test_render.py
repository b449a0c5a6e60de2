"""Rendering kits with the bundled model: the files, the SFZ, the sound, reproduction."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from support.cli import ROOT, lts

from lts_sampler.core.spec import AudioSpec
from lts_sampler.synthesis.audio import load_audio
from lts_sampler.synthesis.spectral import cqt_magnitude

DEMO = ROOT / "lts_sampler" / "demo"
SPEC = AudioSpec()
ALPHAS = [-0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]


@pytest.fixture(scope="module")
def demo_kit(tmp_path_factory) -> Path:
    """The README's demo kit (fewer Griffin–Lim iterations), rendered without importing torch."""
    out = tmp_path_factory.mktemp("kits") / "demo"
    result = lts("render", "--demo", "-o", str(out), "--alphas", "-0.5:1.5:0.25", "--n-iter", "8", "--json",
                 refuse=["torch"])
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["kit"] == str(out.resolve())
    return out


def test_the_demo_kit_has_nine_samples_an_sfz_and_a_manifest(demo_kit):
    names = sorted(p.name for p in (demo_kit / "samples").iterdir())
    assert names == [f"{i:02d}_a{a:+.2f}.wav" for i, a in enumerate(ALPHAS)]
    assert sorted(p.name for p in demo_kit.iterdir()) == ["demo.sfz", "kit.json", "samples"]
    info = sf.info(demo_kit / "samples" / names[0])
    assert info.subtype == "PCM_24" and info.samplerate == 44100 and info.channels == 1
    assert info.duration == pytest.approx(1.5, abs=0.01)
    manifest = json.loads((demo_kit / "kit.json").read_text())
    assert manifest["format"] == "lts-kit/1" and manifest["model"]["name"] == "lts-default"
    assert [layer["alpha"] for layer in manifest["layers"]] == ALPHAS
    assert [s["sha256"] for s in manifest["sources"]] and manifest["settings"]["n_iter"] == 8


def sfz_problems(sfz) -> list:
    """sfzen's errors, less its sample look-ups: it ignores ``default_path``, so we resolve
    the sample paths ourselves."""
    import sfzen

    return [e for e in sfz.errors if not isinstance(e, sfzen.NotFoundError)]


def test_the_sfz_is_valid_relative_and_keyed_as_the_manifest_says(demo_kit):
    sfzen = pytest.importorskip("sfzen")
    sfz = sfzen.SFZ(str(demo_kit / "demo.sfz"))
    assert sfz_problems(sfz) == []
    manifest = json.loads((demo_kit / "kit.json").read_text())
    regions = list(sfz.regions())
    assert len(regions) == 9
    text = (demo_kit / "demo.sfz").read_text()
    assert "default_path=samples/" in text
    for region, declared in zip(regions, manifest["regions"]):
        sample = region.get_opcode_value("sample") if hasattr(region, "get_opcode_value") else None
        path = (demo_kit / "samples" / str(sample)).resolve()
        assert path.is_file() and path.is_relative_to(demo_kit.resolve())
        assert not Path(str(sample)).is_absolute()
        assert int(region.get_opcode_value("key")) == declared["key"]
        assert declared["sample"] == str(sample)
    assert [r["key"] for r in manifest["regions"]] == list(range(60, 69))


def _log_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Mean |log| distance of level-normalised CQT magnitudes (the samples are normalised)."""
    n = min(len(x), len(y))
    x, y = x[:n] / np.linalg.norm(x[:n]), y[:n] / np.linalg.norm(y[:n])
    return float(np.mean(np.abs(np.log(x + 1e-6) - np.log(y + 1e-6))))


def test_alpha_walks_from_a_to_b_and_beyond(demo_kit):
    a, b = (cqt_magnitude(load_audio(DEMO / name, sample_rate=44100, duration=1.5), SPEC)
            for name in ("bass_thick_c.flac", "ambi_choir.flac"))
    to_a, to_b = {}, {}
    for i, alpha in enumerate(ALPHAS):
        y, _ = sf.read(demo_kit / "samples" / f"{i:02d}_a{alpha:+.2f}.wav", dtype="float32")
        s = cqt_magnitude(y, SPEC)
        to_a[alpha], to_b[alpha] = _log_distance(s, a), _log_distance(s, b)
    assert to_a[0.0] < to_b[0.0] and to_b[1.0] < to_a[1.0]
    inside = [0.0, 0.25, 0.5, 0.75, 1.0]
    assert all(to_a[x] < to_a[y] for x, y in zip(inside, inside[1:])), to_a
    assert all(to_b[x] > to_b[y] for x, y in zip(inside, inside[1:])), to_b
    assert to_a[1.5] > to_a[1.0] and to_b[-0.5] > to_b[0.0]


def _render_small(out: Path, *extra: str) -> dict:
    result = lts("render", str(DEMO / "bass_thick_c.flac"), str(DEMO / "ambi_choir.flac"), "-o", str(out),
                 "--duration", "0.3", "--n-iter", "2", "--json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _gain(value: int, lo: int, hi: int, rising: bool) -> float:
    """SFZ cross-fade gain with xf_cccurve=power: sqrt of the position within [lo, hi]."""
    if hi == lo:
        x = 1.0 if value >= hi else 0.0
    else:
        x = min(max((value - lo) / (hi - lo), 0.0), 1.0)
    return float(np.sqrt(x if rising else 1 - x))


def test_morph_layers_crossfade_on_the_mod_wheel_with_constant_power(tmp_path):
    sfzen = pytest.importorskip("sfzen")
    out = tmp_path / "morph"
    _render_small(out, "--mode", "morph", "--alphas", "-0.5:1.5:0.25", "--root", "C3")
    text = (out / "morph.sfz").read_text()
    assert "xf_cccurve=power" in text and "set_cc1=0" in text
    sfz = sfzen.SFZ(str(out / "morph.sfz"))
    assert sfz_problems(sfz) == []
    regions = [dict(re.findall(r"(\w+)=(\S+)", line)) for line in text.splitlines() if line.startswith("<region>")]
    assert len(regions) == 9
    assert all(r["lokey"] == "0" and r["hikey"] == "127" and r["pitch_keycenter"] == "48" for r in regions)
    for cc in range(128):
        gains = []
        for r in regions:
            g = 1.0
            if "xfin_locc1" in r:
                g *= _gain(cc, int(r["xfin_locc1"]), int(r["xfin_hicc1"]), rising=True)
            if "xfout_locc1" in r:
                g *= _gain(cc, int(r["xfout_locc1"]), int(r["xfout_hicc1"]), rising=False)
            gains.append(g)
        assert sum(g * g for g in gains) == pytest.approx(1.0, abs=1e-9), cc
    # The wheel at rest plays the first layer (α = −0.5) alone, fully up the last one.
    assert regions[0]["sample"].startswith("00_a-0.50") and "xfin_locc1" not in regions[0]
    assert "xfout_locc1" not in regions[-1]


def test_round_robins_are_seeded_variations(tmp_path):
    out = tmp_path / "rr"
    summary = _render_small(out, "--alphas", "0,1", "--round-robins", "3")
    names = [s["file"] for s in summary["samples"]]
    assert names[:3] == ["samples/00_a+0.00_rr1.wav", "samples/00_a+0.00_rr2.wav", "samples/00_a+0.00_rr3.wav"]
    text = (out / "rr.sfz").read_text()
    assert "seq_length=3" in text and text.count("seq_position=") == 6
    rr = [sf.read(out / name, dtype="float32")[0] for name in names[:3]]
    assert not np.array_equal(rr[0], rr[1]) and not np.array_equal(rr[1], rr[2])
    similar = cqt_magnitude(rr[0], SPEC), cqt_magnitude(rr[1], SPEC)
    other = cqt_magnitude(sf.read(out / names[3], dtype="float32")[0], SPEC)
    assert _log_distance(*similar) < _log_distance(similar[0], other)


def test_render_from_the_manifest_reproduces_every_sample_bit_for_bit(tmp_path):
    first = tmp_path / "first"
    _render_small(first, "--alphas", "-0.25,0.5,1.25", "--round-robins", "2", "--offset", "0.1,0")
    again = tmp_path / "again"
    result = lts("render", "--from", str(first / "kit.json"), "-o", str(again), "--json")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (first / "samples").iterdir())
    assert names == sorted(p.name for p in (again / "samples").iterdir()) and len(names) == 6
    for name in names:
        assert (first / "samples" / name).read_bytes() == (again / "samples" / name).read_bytes(), name
    assert (first / "first.sfz").read_text().replace("first", "X") == (again / "again.sfz").read_text().replace("again", "X")


def test_a_curve_and_weights_for_three_sources(tmp_path):
    summary = _render_small(tmp_path / "curve", "--curve", "0:0,1:1")
    assert [s["file"] for s in summary["samples"]] == ["samples/00_curve.wav"]
    result = lts("render", *(str(DEMO / n) for n in ("bass_thick_c.flac", "ambi_choir.flac", "bass_thick_c.flac")),
                 "-o", str(tmp_path / "three"), "--weights", "1,0,0;0.25,0.5,0.25", "--duration", "0.3,0.3,0.2",
                 "--offset", "0,0,0.5", "--n-iter", "2", "--json")
    assert result.returncode == 0, result.stderr
    files = [s["file"] for s in json.loads(result.stdout)["samples"]]
    assert files == ["samples/00_w1.00-0.00-0.00.wav", "samples/01_w0.25-0.50-0.25.wav"]


def test_a_sample_never_clips_even_without_normalising():
    from lts_sampler.synthesis.render import finish

    loud = (3.0 * np.sin(np.arange(44100) / 10)).astype(np.float32)
    quiet = 0.1 * loud
    assert np.max(np.abs(finish(loud, 44100, normalize=False))) == pytest.approx(10 ** (-1 / 20), rel=1e-4)
    assert np.max(np.abs(finish(quiet, 44100, normalize=False))) == pytest.approx(0.3, rel=1e-2)
    assert np.max(np.abs(finish(quiet, 44100))) == pytest.approx(10 ** (-1 / 20), rel=1e-4)
