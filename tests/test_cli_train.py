"""The train/export/evaluate verbs as a user meets them: outputs, errors, no torch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import WITHOUT_TORCH, assert_one_line_error, lts, python

RUNTIME = ", ".join(f"lts_sampler{m}" for m in (
    "", ".core.kitformat", ".core.native", ".synthesis.model", ".synthesis.evaluate", ".synthesis.spectral",
    ".synthesis.audio", ".synthesis.phase", ".synthesis.loops", ".synthesis.render", ".synthesis.pitches",
    ".kits.make", ".kits.plan", ".kits.parts",
    ".playing.sampler", ".playing.host", ".playing.output", ".playing.midi_render", ".playing.live",
    ".playing.audition", ".faces.cli", ".faces.cli_render", ".faces.cli_batch", ".faces.cli_play", ".faces.doctor",
    ".faces.tui.pictures",
    ".faces.tui.session", ".faces.tui.job"))
"""Every module of the runtime but the terminal UI's app and widgets."""


def test_the_runtime_never_imports_torch_and_only_the_tui_imports_textual():
    done = python(f"import {RUNTIME}", refuse=["torch", "textual"])
    assert done.returncode == 0, done.stderr
    done = python("import lts_sampler.faces.tui.app", refuse=["torch"])
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("verb", [["train", "data", "-o", "runs/x"], ["export", "runs/x", "-o", "models/x"]])
def test_train_and_export_without_torch_say_how_to_install(verb, tmp_path):
    result = lts(*verb, prelude=WITHOUT_TORCH)
    assert_one_line_error(result, "pip install", "lts-sampler[train]")


@pytest.mark.slow
def test_train_on_three_files_for_two_epochs(audio_folder, tmp_path):
    pytest.importorskip("torch")
    run = tmp_path / "run"
    result = lts("train", str(audio_folder), "-o", str(run), "--epochs", "2", "--device", "cpu",
                 "--latent-dim", "16", "--hidden", "64", "--batch-size", "64", "--cache-dir", str(tmp_path / "c"))
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == run.resolve()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["device"] == "cpu"
    assert "3 files" in result.stderr


def test_a_folder_without_audio_is_one_line(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("no audio here")
    result = lts("train", str(tmp_path / "data"), "-o", str(tmp_path / "run"))
    assert_one_line_error(result, "no audio files under")
    assert not (tmp_path / "run").exists()


def test_a_folder_of_corrupt_files_is_one_line(tmp_path):
    pytest.importorskip("torch")
    data = tmp_path / "data"
    data.mkdir()
    for name in ("kick.wav", "snare.flac", "hat.ogg"):
        (data / name).write_bytes(b"\xff\xfe not audio " * 50)
    result = lts("train", str(data), "-o", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "c"), "--workers", "1")
    assert_one_line_error(result, "none of the 3 audio files")
    assert not (tmp_path / "run").exists()


def test_resume_from_missing_or_corrupt_checkpoint_is_one_line(tmp_path):
    pytest.importorskip("torch")
    run = tmp_path / "run"
    result = lts("train", "-o", str(run), "--resume")
    assert_one_line_error(result, "no checkpoint at", "without --resume")
    run.mkdir()
    (run / "ckpt.pt").write_bytes(b"PK\x03\x04 truncated zip")
    result = lts("train", "-o", str(run), "--resume")
    assert_one_line_error(result, "unreadable")


def test_evaluate_of_a_missing_model_is_one_line(tmp_path):
    result = lts("evaluate", str(tmp_path / "nope"), str(tmp_path))
    assert_one_line_error(result, "no model bundle")
