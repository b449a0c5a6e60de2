"""Distances between magnitudes, and the evaluation of a bundle on audio files (DESIGN §7)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from support.bundles import write_bundle

from lts_sampler.core.digest import sha256_file
from lts_sampler.core.errors import LtsError
from lts_sampler.core.spec import AudioSpec
from lts_sampler.synthesis.evaluate import evaluate_bundle, format_table, heldout_files
from lts_sampler.synthesis.metrics import log_spectral_distance, spectral_convergence
from lts_sampler.synthesis.model import ModelBundle


@pytest.fixture
def magnitude(rng):
    return rng.uniform(0.5, 2.0, size=(20, 384)).astype(np.float32)


def test_sc_of_identical_arrays_is_zero(magnitude):
    assert spectral_convergence(magnitude, magnitude) == 0.0


def test_sc_of_zeros_is_one(magnitude):
    assert spectral_convergence(np.zeros_like(magnitude), magnitude) == pytest.approx(1.0)


@pytest.mark.parametrize(("gain", "sc"), [(2.0, 1.0), (0.5, 0.5), (1.1, 0.1)])
def test_sc_of_a_gain_is_its_distance_from_one(magnitude, gain, sc):
    assert spectral_convergence(gain * magnitude, magnitude) == pytest.approx(sc, rel=1e-5)


@pytest.mark.parametrize(("gain", "lsd_db"), [(10.0, 20.0), (0.1, 20.0), (100.0, 40.0), (1.0, 0.0)])
def test_lsd_of_a_gain_is_its_level_in_db(magnitude, gain, lsd_db):
    assert log_spectral_distance(gain * magnitude, magnitude) == pytest.approx(lsd_db, abs=1e-3)


def write_sine(path, seconds, *, sample_rate=44100, hz=440.0):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    sf.write(path, 0.5 * np.sin(2 * np.pi * hz * t), sample_rate)
    return path


@pytest.fixture
def small_rate_bundle(tmp_path):
    """The tiny bundle at 8 kHz, 4 octaves from C3: constant-Q work far cheaper than at 44.1 kHz."""
    spec = AudioSpec(sample_rate=8000, hop_length=64, bins_per_octave=24, n_bins=96, fmin_hz=130.81)
    return ModelBundle.load(write_bundle(tmp_path / "small", n_bins=96, audio=spec.to_dict()), device="cpu")


@pytest.mark.filterwarnings("ignore:n_fft=.*is too large for input signal:UserWarning")
def test_evaluate_bundle_measures_long_files_and_skips_short_ones(small_rate_bundle, tmp_path):
    bundle = small_rate_bundle
    long = write_sine(tmp_path / "long.wav", 0.6)
    short = write_sine(tmp_path / "short.wav", 0.2)
    calls = []
    result = evaluate_bundle(
        bundle, [long, short], seconds=0.5, min_seconds=0.3, n_iter=2, progress=lambda *a: calls.append(a)
    )
    assert calls == [(1, 2, "long.wav"), (2, 2, "short.wav")]
    assert result["settings"] == {
        "seconds": 0.5, "min_seconds": 0.3, "n_iter": 2, "seed": 0,
        "files_evaluated": ["long.wav"], "files_skipped": ["short.wav"],
    }
    (row,) = result["files"]
    assert row["file"] == "long.wav" and row["frames"] == 1 + 4000 // 64
    assert set(result["mean"]) == {"ideal", "model_prephase", "model"}
    assert 0 < result["mean"]["ideal"]["sc"] < 1 and np.isfinite(result["mean"]["ideal"]["lsd_db"])
    assert all(np.isfinite(v) for figures in result["mean"].values() for v in figures.values())
    assert json.loads(json.dumps(result)) == result
    table = format_table(result)
    assert "model pre-phase" in table and "LSD dB" in table and "skipped 1 file shorter than 0.3 s" in table


def test_evaluate_bundle_refuses_when_every_file_is_short(small_rate_bundle, tmp_path):
    short = write_sine(tmp_path / "short.wav", 0.2)
    with pytest.raises(LtsError, match="none of the 1 files lasts at least 1 s"):
        evaluate_bundle(small_rate_bundle, [short], n_iter=2)


def test_heldout_files_accepts_names_and_hashed_entries(tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    a = write_sine(data / "a.wav", 0.1)
    b = write_sine(data / "sub" / "b.wav", 0.1)
    write_sine(data / "c.wav", 0.1)
    training = {"heldout_files": ["a.wav", {"name": "b.wav", "sha256": sha256_file(b)}, "gone.wav"]}
    bundle = ModelBundle.load(write_bundle(tmp_path / "m", training=training), device="cpu")
    assert heldout_files(bundle, data) == [a, b]
    with pytest.raises(LtsError, match="none of model tiny's 3 held-out files is under"):
        heldout_files(bundle, tmp_path / "empty")
