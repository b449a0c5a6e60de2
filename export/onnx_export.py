"""A training run → a model bundle (DESIGN §4): two ONNX graphs and ``model.json``.

The graphs take and return linear magnitudes; every scaling step is inside them. After
writing, onnxruntime is checked against torch on held-out frames, and the bundle appears
only when the check passes.
"""

from __future__ import annotations

import json
import logging
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from lts_sampler.training.models import build_model
from lts_sampler.training.train import code_revision, load_checkpoint
from rich.console import Console

from lts_sampler.core.atomic import check_replaceable, replacing_dir, write_json
from lts_sampler.core.digest import sha256_file
from lts_sampler.core.errors import LtsError
from lts_sampler.core.spec import AudioSpec
from lts_sampler.synthesis.evaluate import evaluate_bundle
from lts_sampler.synthesis.model import ModelBundle

OPSET = 18
PARITY_TOLERANCE = 1e-4
"""Largest allowed |onnxruntime − torch|, as a fraction of the output's peak magnitude."""


class _Half(torch.nn.Module):
    """One half of a model, its ``encode`` or its ``decode``, as a module to trace."""

    def __init__(self, model: torch.nn.Module, method: str):
        super().__init__()
        self.model = model
        self.method = method

    def forward(self, x):
        return getattr(self.model, self.method)(x)


def _onnx_export(module: torch.nn.Module, example: torch.Tensor, path: Path, input_name: str, output_names: list[str]) -> None:
    batch = torch.export.Dim("N", min=1)
    onnx_logger = logging.getLogger("torch.onnx")
    level = onnx_logger.level
    onnx_logger.setLevel(logging.ERROR)  # it lists the torchvision ops it skips, every time
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            torch.onnx.export(
                module.eval(), (example,), path,
                input_names=[input_name], output_names=output_names,
                dynamic_shapes=({0: batch},), opset_version=OPSET, dynamo=True, external_data=False, verbose=False,
            )
    finally:
        onnx_logger.setLevel(level)


def parity_frames(dataset: dict, *, limit: int = 4096) -> np.ndarray:
    """Held-out (else validation, else training) frames from the run's feature cache."""
    for split in ("heldout", "validation", "train"):
        arrays = [np.load(f["cache"]) for f in dataset[split] if Path(f["cache"]).is_file()]
        if arrays:
            return np.concatenate(arrays)[:limit]
    raise LtsError("the run's cached features are gone; train again so export can check the graphs")


@torch.no_grad()
def check_parity(model: torch.nn.Module, bundle: ModelBundle, frames: np.ndarray) -> dict:
    """Max |onnxruntime − torch| of μ and of the decoded magnitude, relative to their peaks.

    Raises LtsError when either exceeds PARITY_TOLERANCE.
    """
    mu_torch, _ = model.encode(torch.from_numpy(frames))
    mu_onnx, _ = bundle.encode(frames)
    out_torch = model.decode(mu_torch).numpy()
    out_onnx = bundle.decode(mu_torch.numpy())
    figures = {
        "frames": len(frames),
        "mu": float(np.max(np.abs(mu_onnx - mu_torch.numpy())) / max(float(np.max(np.abs(mu_torch.numpy()))), 1e-12)),
        "magnitude": float(np.max(np.abs(out_onnx - out_torch)) / max(float(np.max(np.abs(out_torch))), 1e-12)),
    }
    worst = max(figures["mu"], figures["magnitude"])
    if not worst <= PARITY_TOLERANCE:
        raise LtsError(
            f"onnxruntime differs from torch by {worst:.2e} of the output scale (allowed {PARITY_TOLERANCE:g}); "
            "the export is wrong — do not ship this bundle"
        )
    return figures


def export_bundle(
    run: str | Path,
    out: str | Path,
    *,
    name: str | None = None,
    dataset_name: str | None = None,
    licence: str = "unknown",
    evaluate: bool = True,
    console: Console | None = None,
) -> dict:
    """Write the bundle of ``run``'s best weights to ``out``; returns its ``model.json``."""
    console = console or Console(stderr=True)
    run, out = Path(run), Path(out)
    best = load_checkpoint(run / "best.pt")
    try:
        dataset = json.loads((run / "dataset.json").read_text())
        metrics = json.loads((run / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise LtsError(f"{run} is not a finished training run ({err}); run `lts-sampler train` first") from None
    spec = AudioSpec.from_dict(dataset["audio"])
    model = build_model(best["model_args"])
    model.load_state_dict(best["model"])
    model.eval()
    latent_dim = best["model_args"]["latent_dim"]
    name = name or out.name
    check_replaceable(out, marker="model.json", what="model bundle")

    with replacing_dir(out) as tmp:
        _onnx_export(_Half(model, "encode"), torch.rand(2, spec.n_bins), tmp / "encoder.onnx", "magnitude", ["mu", "logvar"])
        _onnx_export(_Half(model, "decode"), torch.randn(2, latent_dim), tmp / "decoder.onnx", "z", ["magnitude"])
        info = {
            "format": "lts-model/1",
            "name": name,
            "audio": spec.to_dict(),
            "latent_dim": latent_dim,
            "encoder": "encoder.onnx",
            "decoder": "decoder.onnx",
            "sha256": {f: sha256_file(tmp / f) for f in ("encoder.onnx", "decoder.onnx")},
            "training": _provenance(best, dataset, metrics, dataset_name, licence),
            "metrics": {"heldout_prephase": _means(metrics.get("heldout_prephase", {}))},
        }
        write_json(tmp / "model.json", info)
        bundle = ModelBundle.load(tmp, device="cpu")
        info["metrics"]["export_parity"] = check_parity(model, bundle, parity_frames(dataset))
        heldout = [Path(f["path"]) for f in dataset["heldout"] if f["seconds"] >= 1.0 and Path(f["path"]).is_file()]
        if evaluate and heldout:
            console.print(f"evaluating {len(heldout)} held-out files (Griffin–Lim, 32 iterations)…", highlight=False)
            result = evaluate_bundle(bundle, heldout)
            info["metrics"]["heldout"] = {"mean": result["mean"], "settings": result["settings"]}
        write_json(tmp / "model.json", info)
    return info


def _means(figures: dict) -> dict:
    return {k: v for k, v in figures.items() if k != "files"}


def _provenance(best: dict, dataset: dict, metrics: dict, dataset_name: str | None, licence: str) -> dict:
    def names(split):
        return [{"name": f["name"], "sha256": f["sha256"]} for f in dataset[split]]

    config = best["config"]
    return {
        "dataset": dataset_name or Path(dataset["data"]).name,
        "licence": licence,
        "files": len(dataset["train"]) + len(dataset["validation"]),
        "seconds": round(sum(f["seconds"] for f in dataset["train"] + dataset["validation"]), 1),
        "arch": best["model_args"]["arch"],
        "model_args": best["model_args"],
        "epochs": metrics.get("epochs"),
        "steps": best["step"],
        "train_seconds": metrics.get("seconds"),
        "device": metrics.get("device"),
        "seed": config["seed"],
        "config": config,
        "code_revision": metrics.get("code_revision", "unknown"),
        "export_code_revision": code_revision(),
        "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "train_files": names("train"),
        "validation_files": names("validation"),
        "heldout_files": names("heldout"),
    }
