"""Training: the models learn, the loop runs, checkpoints load safely, DDP works."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow  # training

from lts_sampler.training.models import build_model  # noqa: E402
from lts_sampler.training.train import TrainConfig, load_checkpoint, train  # noqa: E402

from lts_sampler.core.errors import LtsError  # noqa: E402

TINY = {"latent_dim": 16, "hidden": 64, "batch_size": 64, "eval_interval": 5, "workers": 1}


def _frames(rng, n=512, n_bins=384):
    """Harmonic spectra at random pitches and gains, with a noise floor: [n, n_bins]."""
    bins = np.arange(n_bins)
    frames = np.full((n, n_bins), 1e-4)
    for row, (f0, gain) in enumerate(zip(rng.integers(40, 120, n), rng.uniform(0.05, 2.0, n))):
        for k in range(1, 6):
            peak = f0 + round(48 * np.log2(k))
            frames[row] += gain / k * np.exp(-0.5 * ((bins - peak) / 1.5) ** 2)
    return frames.astype(np.float32)


@pytest.mark.parametrize("arch", ["residual", "lts"])
def test_a_few_steps_lower_the_loss(arch, rng):
    torch.manual_seed(0)
    frames = _frames(rng)
    model = build_model({"arch": arch, "n_bins": 384, "latent_dim": 8, "hidden": 64, "beta": 1e-4})
    model.fit_init(frames)
    x = torch.from_numpy(frames)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    with torch.no_grad():
        before = float(model(x, sample=False)[0])
    for _ in range(60):
        loss, _ = model(x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        after = float(model(x, sample=False)[0])
    assert after < 0.9 * before


def test_models_take_and_give_linear_magnitudes(rng):
    frames = torch.from_numpy(_frames(rng, 64))
    for arch in ("residual", "lts"):
        model = build_model({"arch": arch, "n_bins": 384, "latent_dim": 8, "hidden": 32, "beta": 1e-4})
        model.fit_init(frames.numpy())
        mu, logvar = model.encode(frames)
        out = model.decode(mu)
        assert mu.shape == logvar.shape == (64, 8)
        assert out.shape == (64, 384) and bool((out >= 0).all())
        # An extrapolated latent far outside the data stays finite.
        assert bool(torch.isfinite(model.decode(mu * 50)).all())


def test_residual_model_starts_as_the_pca_of_log_magnitudes(rng):
    frames = _frames(rng, 800)
    model = build_model({"arch": "residual", "n_bins": 384, "latent_dim": 384, "hidden": 32, "beta": 1e-4})
    model.fit_init(frames)
    model.eval()
    with torch.no_grad():
        mu, _ = model.encode(torch.from_numpy(frames))
        out = model.decode(mu).numpy()
    # All components kept: the linear path is an identity up to float error.
    np.testing.assert_allclose(out, frames, rtol=1e-3, atol=1e-5)


def test_train_runs_on_cpu_writes_its_record_and_repeats_with_a_seed(audio_folder, tmp_path):
    runs = []
    for name in ("a", "b"):
        cfg = TrainConfig(data=str(audio_folder), out=str(tmp_path / name), epochs=2, device="cpu",
                          cache_dir=str(tmp_path / "cache"), seed=3, **TINY)
        runs.append(train(cfg))
    a, b = runs
    assert a["steps"] > 0 and a["processes"] == 1
    assert [h["val_loss"] for h in a["history"]] == [h["val_loss"] for h in b["history"]]
    run = tmp_path / "a"
    for name in ("config.json", "dataset.json", "ckpt.pt", "best.pt", "metrics.json", "loss.png"):
        assert (run / name).is_file(), name
    dataset = json.loads((run / "dataset.json").read_text())
    assert len(dataset["train"]) + len(dataset["validation"]) + len(dataset["heldout"]) == 3
    # Checkpoints are plain tensors and data.
    ckpt = torch.load(run / "ckpt.pt", weights_only=True)
    assert set(ckpt) >= {"model", "optimizer", "model_args", "config", "state"}
    assert (run / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_resume_continues_where_the_run_stopped(audio_folder, tmp_path):
    common = dict(data=str(audio_folder), out=str(tmp_path / "run"), device="cpu", cache_dir=str(tmp_path / "cache"), **TINY)
    first = train(TrainConfig(epochs=1, **common))
    resumed = train(TrainConfig(epochs=3, **common), resume=True)
    assert resumed["steps"] == 3 * first["steps"]
    assert resumed["history"][: len(first["history"])] == first["history"]


def test_resume_from_a_missing_or_corrupt_checkpoint_is_refused(tmp_path):
    with pytest.raises(LtsError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "ckpt.pt")
    (tmp_path / "ckpt.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(LtsError, match="is unreadable"):
        load_checkpoint(tmp_path / "ckpt.pt")


def test_checkpoints_refuse_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    torch.save({"model": Evil(), "model_args": {}}, tmp_path / "ckpt.pt")
    with pytest.raises(LtsError, match="is unreadable"):
        load_checkpoint(tmp_path / "ckpt.pt")


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not on PATH")
def test_two_processes_train_with_ddp_on_gloo(audio_folder, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        "torchrun", "--standalone", "--nproc_per_node", "2", "-m", "lts_sampler", "train", str(audio_folder),
        "-o", str(out), "--epochs", "2", "--device", "cpu", "--latent-dim", "16", "--hidden", "64",
        "--batch-size", "32", "--eval-interval", "3", "--workers", "1", "--cache-dir", str(tmp_path / "cache"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["steps"] > 0
    # Rank 0 alone writes: one summary line, not two.
    assert result.stderr.count("best validation loss") == 1
