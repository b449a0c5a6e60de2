"""Loading and verifying model bundles (DESIGN §4)."""

from __future__ import annotations

import json
import sys

import numpy as np
import onnxruntime as ort
import pytest
from onnx import helper
from onnx.external_data_helper import set_external_data
from support.bundles import TINY_LATENT, tiny_encoder, write_bundle
from support.cli import python

from lts_sampler.core.digest import sha256_file
from lts_sampler.core.errors import LtsError
from lts_sampler.synthesis.model import ModelBundle, default_bundle_path, find_bundles


def test_valid_bundle_loads_and_round_trips_shapes(tiny_bundle, rng):
    bundle = ModelBundle.load(tiny_bundle, device="cpu")
    assert (bundle.name, bundle.latent_dim, bundle.spec.n_bins) == ("tiny", TINY_LATENT, 384)
    assert bundle.provider == "CPUExecutionProvider"
    magnitude = rng.random((5000, 384), dtype=np.float32)  # more than one 4096-frame chunk
    mu, logvar = bundle.encode(magnitude)
    assert mu.shape == logvar.shape == (5000, TINY_LATENT) and mu.dtype == np.float32
    np.testing.assert_allclose(logvar, -2.0)
    decoded = bundle.decode(mu)
    assert decoded.shape == (5000, 384) and decoded.dtype == np.float32 and decoded.min() >= 0
    np.testing.assert_array_equal(bundle.decode(mu[:3]), decoded[:3])
    assert bundle.decode(np.zeros((0, TINY_LATENT))).shape == (0, 384)


def test_repr_names_model_shape_and_provider(tiny_bundle):
    text = repr(ModelBundle.load(tiny_bundle, device="cpu"))
    assert "'tiny'" in text and "latent_dim=8" in text and "n_bins=384" in text and "CPUExecutionProvider" in text


def test_wrong_input_width_produces_helpful_error_message(tiny_bundle):
    bundle = ModelBundle.load(tiny_bundle, device="cpu")
    with pytest.raises(LtsError, match=r"magnitude has shape \(3, 100\), expected \(frames, 384\)"):
        bundle.encode(np.zeros((3, 100), np.float32))


def test_sha256_mismatch_produces_helpful_error_message(tiny_bundle):
    with open(tiny_bundle / "decoder.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(LtsError, match=r"tiny: sha256 mismatch for decoder.onnx .*re-export the bundle"):
        ModelBundle.load(tiny_bundle)


def test_unlisted_encoder_is_refused(tiny_bundle):
    info = json.loads((tiny_bundle / "model.json").read_text())
    del info["sha256"]["encoder.onnx"]
    (tiny_bundle / "model.json").write_text(json.dumps(info))
    with pytest.raises(LtsError, match="encoder 'encoder.onnx' has no sha256"):
        ModelBundle.load(tiny_bundle)


def test_wrong_n_bins_produces_helpful_error_message(tmp_path):
    folder = write_bundle(tmp_path / "b", encoder=tiny_encoder(256, TINY_LATENT))
    words = r"encoder.onnx input 'magnitude' is tensor\(float\) \['N', 256\], expected float \[N, 384\]"
    with pytest.raises(LtsError, match=words):
        ModelBundle.load(folder)


def test_fixed_batch_dim_is_refused(tmp_path):
    encoder = tiny_encoder(384, TINY_LATENT)
    encoder.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    with pytest.raises(LtsError, match="with a dynamic N"):
        ModelBundle.load(write_bundle(tmp_path / "b", encoder=encoder))


def initializer_weights():
    encoder = tiny_encoder(384, TINY_LATENT)
    return encoder, encoder.graph.initializer[0]


def constant_weights():
    """The tiny encoder with W held by a Constant node instead of an initializer."""
    encoder = tiny_encoder(384, TINY_LATENT)
    encoder.graph.node.insert(0, helper.make_node("Constant", [], ["W"], value=encoder.graph.initializer.pop(0)))
    return encoder, encoder.graph.node[0].attribute[0].t


@pytest.mark.parametrize("weights", [initializer_weights, constant_weights])
def test_external_data_outside_the_bundle_is_refused(tmp_path, weights):
    encoder, tensor = weights()
    (tmp_path / "outside.bin").write_bytes(tensor.raw_data)
    set_external_data(tensor, location="../outside.bin")
    tensor.ClearField("raw_data")
    folder = write_bundle(tmp_path / "b", encoder=encoder)
    with pytest.raises(LtsError, match=r"external data '../outside.bin' lies outside the bundle folder"):
        ModelBundle.load(folder)


def test_external_data_inside_the_bundle_loads(tmp_path, rng):
    encoder, tensor = initializer_weights()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "weights.bin").write_bytes(tensor.raw_data)
    set_external_data(tensor, location="weights.bin")
    tensor.ClearField("raw_data")
    bundle = ModelBundle.load(write_bundle(tmp_path / "b", encoder=encoder), device="cpu")
    mu, _ = bundle.encode(rng.random((4, 384)))
    assert mu.shape == (4, TINY_LATENT)


def test_external_data_is_refused_when_onnx_is_missing(tmp_path, monkeypatch):
    encoder = tiny_encoder(384, TINY_LATENT)
    set_external_data(encoder.graph.initializer[0], location="weights.bin")
    folder = write_bundle(tmp_path / "b", encoder=encoder)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(LtsError, match="stores weights as external data; install onnx"):
        ModelBundle.load(folder)


def test_unparsable_onnx_is_refused(tmp_path):
    folder = write_bundle(tmp_path / "b")
    (folder / "encoder.onnx").write_bytes(b"not an onnx file \xff\xfe")
    info = json.loads((folder / "model.json").read_text())
    info["sha256"]["encoder.onnx"] = sha256_file(folder / "encoder.onnx")
    (folder / "model.json").write_text(json.dumps(info))
    with pytest.raises(LtsError, match="encoder.onnx is not a readable ONNX file"):
        ModelBundle.load(folder)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (None, "no model.json found"),
        ("{not json", "model.json is not valid JSON"),
        ('{"format": "lts-model/2"}', "format is 'lts-model/2', expected 'lts-model/1'"),
        ('{"format": "lts-model/1", "name": "x"}', "model.json lacks audio, latent_dim, encoder"),
    ],
)
def test_bad_model_json_produces_helpful_error_message(tiny_bundle, text, words):
    if text is None:
        (tiny_bundle / "model.json").unlink()
    else:
        (tiny_bundle / "model.json").write_text(text)
    with pytest.raises(LtsError, match=words):
        ModelBundle.load(tiny_bundle)


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(LtsError, match="nowhere: no such folder"):
        ModelBundle.load(tmp_path / "nowhere")


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="CUDA provider present")
def test_cuda_without_provider_produces_helpful_error_message(tiny_bundle):
    with pytest.raises(LtsError, match="no CUDAExecutionProvider; install onnxruntime-gpu or render on the CPU"):
        ModelBundle.load(tiny_bundle, device="cuda")


def test_unknown_device_is_refused(tiny_bundle):
    with pytest.raises(LtsError, match="device 'tpu': give one of auto, cpu, cuda"):
        ModelBundle.load(tiny_bundle, device="tpu")


def test_find_bundles_lists_bundle_folders(tmp_path, monkeypatch):
    write_bundle(tmp_path / "models" / "b")
    write_bundle(tmp_path / "models" / "a")
    (tmp_path / "models" / "not-a-bundle").mkdir()
    single = write_bundle(tmp_path / "elsewhere")
    found = find_bundles([tmp_path / "models", single, tmp_path / "missing", tmp_path / "models"])
    assert [p.name for p in found] == ["a", "b", "elsewhere"]
    monkeypatch.setenv("LTS_SAMPLER_MODELS", str(single))
    assert single in find_bundles()
    assert default_bundle_path().parts[-2:] == ("models", "lts-default")


def test_sha256_file_matches_known_digest(tmp_path):
    (tmp_path / "abc").write_bytes(b"abc")
    assert sha256_file(tmp_path / "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_model_module_does_not_import_torch():
    assert python("import lts_sampler.synthesis.model, lts_sampler.synthesis.evaluate", refuse=["torch"]).returncode == 0
