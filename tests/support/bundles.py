"""Tiny model bundles built with onnx.helper (no torch), and short test sounds."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lts_sampler.core.spec import AudioSpec

TINY_LATENT = 8


def tiny_encoder(n_bins: int, latent_dim: int) -> onnx.ModelProto:
    """mu = magnitude @ W (fixed W), logvar = a constant -2 per latent; batch dim "N"."""
    w = (np.random.default_rng(1).standard_normal((n_bins, latent_dim)) / np.sqrt(n_bins)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["magnitude", "W"], ["mu"]),
        helper.make_node("Mul", ["mu", "zero"], ["mu0"]),
        helper.make_node("Add", ["mu0", "minus_two"], ["logvar"]),
    ]
    initializers = [
        numpy_helper.from_array(w, "W"),
        numpy_helper.from_array(np.zeros(1, np.float32), "zero"),
        numpy_helper.from_array(np.full(1, -2.0, np.float32), "minus_two"),
    ]
    graph = helper.make_graph(
        nodes,
        "encoder",
        [helper.make_tensor_value_info("magnitude", TensorProto.FLOAT, ["N", n_bins])],
        [
            helper.make_tensor_value_info("mu", TensorProto.FLOAT, ["N", latent_dim]),
            helper.make_tensor_value_info("logvar", TensorProto.FLOAT, ["N", latent_dim]),
        ],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def tiny_decoder(n_bins: int, latent_dim: int) -> onnx.ModelProto:
    """magnitude = Relu(z @ V) (fixed V); batch dim "N"."""
    v = np.random.default_rng(2).standard_normal((latent_dim, n_bins)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["z", "V"], ["pre"]), helper.make_node("Relu", ["pre"], ["magnitude"])],
        "decoder",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", latent_dim])],
        [helper.make_tensor_value_info("magnitude", TensorProto.FLOAT, ["N", n_bins])],
        [numpy_helper.from_array(v, "V")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def write_bundle(
    folder: Path,
    *,
    encoder: onnx.ModelProto | None = None,
    decoder: onnx.ModelProto | None = None,
    n_bins: int = 384,
    latent_dim: int = TINY_LATENT,
    **info,
) -> Path:
    """Write a complete bundle (model.json with correct hashes) and return its folder."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(encoder or tiny_encoder(n_bins, latent_dim), folder / "encoder.onnx")
    onnx.save(decoder or tiny_decoder(n_bins, latent_dim), folder / "decoder.onnx")
    hashes = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in ("encoder.onnx", "decoder.onnx")}
    manifest = {
        "format": "lts-model/1",
        "name": "tiny",
        "audio": AudioSpec(n_bins=n_bins).to_dict(),
        "latent_dim": latent_dim,
        "encoder": "encoder.onnx",
        "decoder": "decoder.onnx",
        "sha256": hashes,
        "training": {"heldout_files": []},
        "metrics": {},
        **info,
    }
    (folder / "model.json").write_text(json.dumps(manifest, indent=2))
    return folder


def write_tones(folder: Path, *, seconds: float = 0.6, sample_rate: int = 22050) -> list[Path]:
    """Three short test sounds in three formats: a harmonic tone, a chirp, decaying noise."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    envelope = np.exp(-3 * t)
    tone = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 6)) * envelope
    chirp = np.sin(2 * np.pi * (200 + 800 * t) * t) * envelope
    noise = np.random.default_rng(3).standard_normal(len(t)) * envelope
    paths = [folder / "tone.wav", folder / "chirp.flac", folder / "noise.ogg"]
    for path, y in zip(paths, (tone, chirp, noise)):
        sf.write(path, (0.3 * y / np.max(np.abs(y))).astype(np.float32), sample_rate)
    return paths
