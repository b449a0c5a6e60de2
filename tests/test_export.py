"""Export: a training run becomes a bundle the torch-free runtime loads, with parity."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow  # training, then export

from lts_sampler.training.onnx_export import PARITY_TOLERANCE, export_bundle  # noqa: E402
from lts_sampler.training.train import TrainConfig, train  # noqa: E402
from support.bundles import write_tones  # noqa: E402

from lts_sampler.core.digest import sha256_file
from lts_sampler.core.errors import LtsError  # noqa: E402
from lts_sampler.synthesis.model import ModelBundle


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    data = root / "audio"
    write_tones(data)
    cfg = TrainConfig(data=str(data), out=str(root / "run"), epochs=2, device="cpu", latent_dim=16, hidden=64,
                      batch_size=64, eval_interval=5, workers=1, cache_dir=str(root / "cache"))
    train(cfg)
    return root / "run"


@pytest.mark.parametrize("arch", ["residual", "lts"])
def test_export_writes_a_bundle_that_matches_torch(arch, tiny_run, tmp_path):
    run = tiny_run
    if arch == "lts":
        run = tmp_path / "lts-run"
        cfg = json.loads((tiny_run / "config.json").read_text())
        train(TrainConfig(**{**cfg, "out": str(run), "arch": "lts", "hidden": 64, "beta": 5e-4}))
    out = tmp_path / "models" / "tiny"
    info = export_bundle(run, out, licence="CC0-1.0", evaluate=False)
    assert sorted(p.name for p in out.iterdir()) == ["decoder.onnx", "encoder.onnx", "model.json"]
    on_disk = json.loads((out / "model.json").read_text())
    assert on_disk == info
    assert on_disk["format"] == "lts-model/1" and on_disk["latent_dim"] == 16
    assert on_disk["sha256"]["encoder.onnx"] == sha256_file(out / "encoder.onnx")
    parity = on_disk["metrics"]["export_parity"]
    assert parity["mu"] <= PARITY_TOLERANCE and parity["magnitude"] <= PARITY_TOLERANCE
    training = on_disk["training"]
    assert training["licence"] == "CC0-1.0" and training["arch"] == arch
    names = {f["name"] for f in training["train_files"] + training["validation_files"]}
    assert names.isdisjoint(f["name"] for f in training["heldout_files"])
    assert all(len(f["sha256"]) == 64 for f in training["train_files"])

    bundle = ModelBundle.load(out, device="cpu")
    frames = np.abs(np.random.default_rng(0).standard_normal((3000, 384))).astype(np.float32)
    mu, logvar = bundle.encode(frames)
    assert mu.shape == (3000, 16) and logvar.shape == (3000, 16)
    assert bundle.decode(mu).shape == (3000, 384)


def test_export_replaces_an_older_bundle_whole(tiny_run, tmp_path):
    out = tmp_path / "tiny"
    out.mkdir()
    (out / "model.json").write_text("{}")
    (out / "stale.txt").write_text("from an older export")
    export_bundle(tiny_run, out, evaluate=False)
    assert not (out / "stale.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_export_never_replaces_a_folder_that_is_not_a_bundle(tiny_run, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(LtsError, match="not a model bundle"):
        export_bundle(tiny_run, tmp_path, evaluate=False)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_export_of_something_that_is_not_a_run_is_refused(tmp_path):
    with pytest.raises(LtsError, match="no checkpoint at"):
        export_bundle(tmp_path, tmp_path / "out", evaluate=False)
    assert not (tmp_path / "out").exists()
