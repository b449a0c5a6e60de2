"""Model bundles (DESIGN §4): a folder with ``model.json`` and two ONNX graphs, verified on load.

The runtime never imports torch; the graphs run in onnxruntime.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from lts_sampler.core.digest import sha256_file
from lts_sampler.core.errors import BadValue, LtsError
from lts_sampler.core.spec import AudioSpec

FORMAT = "lts-model/1"
DEFAULT_MODEL = "lts-default"
REQUIRED_KEYS = ("format", "name", "audio", "latent_dim", "encoder", "decoder", "sha256")
DEVICES = ("auto", "cpu", "cuda")
CHUNK_FRAMES = 4096
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
ORT_ERRORS = (ort_state.Fail, ort_state.InvalidArgument, ort_state.InvalidGraph, ort_state.InvalidProtobuf,
              ort_state.NoSuchFile, ort_state.NotImplemented, ort_state.RuntimeException)


def models_dir() -> Path:
    """The ``models/`` folder inside the package, where the bundled models are installed."""
    return Path(__file__).resolve().parent.parent / "models"


def default_bundle_path() -> Path:
    """The default model ``lts-default``: the one bundled in the package, else the first in ``$LTS_SAMPLER_MODELS``.

    Where neither has it, the package's ``models/lts-default``, so that loading it says where it was looked for.
    """
    return next((path for path in find_bundles() if path.name == DEFAULT_MODEL), models_dir() / DEFAULT_MODEL)


def find_bundles(dirs: list[str | Path] | None = None) -> list[Path]:
    """Bundle folders (those holding a ``model.json``) in or directly under ``dirs``.

    Parameters
    ----------
    dirs : folders to search; default the models bundled in the package (:func:`models_dir`),
        then every folder of ``$LTS_SAMPLER_MODELS`` (``os.pathsep``-separated). Missing folders
        are skipped.

    Returns
    -------
    paths : sorted within each folder, without duplicates; not loaded nor verified
    """
    if dirs is None:
        extra = os.environ.get("LTS_SAMPLER_MODELS", "")
        dirs = [models_dir(), *(d for d in extra.split(os.pathsep) if d)]
    found: list[Path] = []
    for folder in map(Path, dirs):
        if (folder / "model.json").is_file():
            candidates = [folder]
        else:
            candidates = sorted(p.parent for p in folder.glob("*/model.json") if p.is_file())
        found += [p for p in candidates if p.resolve() not in {f.resolve() for f in found}]
    return found


def resolve_bundle(name_or_path: str | Path | None) -> Path:
    """A bundle folder from a path, or from a name among :func:`find_bundles`; None is the default model."""
    if name_or_path is None:
        return default_bundle_path()
    path = Path(name_or_path)
    if path.exists():
        return path
    found = find_bundles()
    for bundle in found:
        if bundle.name == str(name_or_path):
            return bundle
    known = ", ".join(b.name for b in found) or "none"
    raise LtsError(f"no model bundle {str(name_or_path)!r}: not a folder, nor a known model ({known})")


def _refuse(path: Path, what: str, todo: str) -> LtsError:
    return LtsError(f"model bundle {path}: {what}; {todo}")


def _read_info(path: Path) -> dict:
    manifest = path / "model.json"
    if not manifest.is_file():
        raise _refuse(path, "no model.json found", "pass the folder of an exported model (see `lts-sampler models`)")
    try:
        info = json.loads(manifest.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _refuse(path, f"model.json is not valid JSON ({err})", "re-export the model") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        found = info.get("format") if isinstance(info, dict) else type(info).__name__
        raise _refuse(path, f"model.json format is {found!r}, expected {FORMAT!r}", "re-export the model")
    missing = [key for key in REQUIRED_KEYS if key not in info]
    if missing:
        raise _refuse(path, f"model.json lacks {', '.join(missing)}", "re-export the model")
    return info


def _read_spec(path: Path, info: dict) -> tuple[AudioSpec, int]:
    try:
        spec = AudioSpec.from_dict(info["audio"]) if isinstance(info["audio"], dict) else None
    except LtsError as err:
        raise _refuse(path, f"model.json {err}", "re-export the model") from None
    latent_dim = info["latent_dim"]
    if spec is None or type(spec.n_bins) is not int or spec.n_bins < 1 or type(latent_dim) is not int or latent_dim < 1:
        raise _refuse(path, "model.json needs an audio table, positive integer n_bins and latent_dim", "re-export it")
    return spec, latent_dim


def _inside(path: Path, name: object, what: str) -> Path:
    """``path / name``, refused unless it is a file name resolving inside the bundle."""
    target = (path / str(name)).resolve()
    if not isinstance(name, str) or not target.is_relative_to(path.resolve()):
        raise _refuse(path, f"{what} {name!r} is not a file inside the bundle folder", "keep every model file inside it")
    return target


def _check_hashes(path: Path, info: dict) -> None:
    hashes = info["sha256"]
    if not isinstance(hashes, dict) or not all(isinstance(v, str) for v in hashes.values()):
        raise _refuse(path, "model.json sha256 is not a {file: hexdigest} table", "re-export the model")
    for role in ("encoder", "decoder"):
        if info[role] not in hashes:
            raise _refuse(path, f"{role} {info[role]!r} has no sha256 in model.json", "re-export the model")
    for name, expected in hashes.items():
        file = _inside(path, name, "sha256 entry")
        if not file.is_file():
            raise _refuse(path, f"{name} is missing", "copy the whole bundle folder again")
        if sha256_file(file) != expected.lower():
            raise _refuse(path, f"sha256 mismatch for {name} (file changed or corrupt)", "copy or re-export the bundle")


def _tensors(graph):
    """Every TensorProto of a graph, its subgraphs included (initializers and attributes)."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    yield from _node_tensors(graph.node)


def _node_tensors(nodes):
    for node in nodes:
        for attr in node.attribute:
            yield from ([attr.t] if attr.HasField("t") else [])
            yield from attr.tensors
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _tensors(sub)


def _check_external_data(path: Path, onnx_path: Path) -> None:
    """Parse ``onnx_path`` without its external data; refuse data stored outside the bundle."""
    try:
        import onnx
        from google.protobuf.message import DecodeError
    except ImportError:
        if b"\n\x08location" in onnx_path.read_bytes():
            raise _refuse(path, f"{onnx_path.name} stores weights as external data", "install onnx to verify it") from None
        return
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except (DecodeError, ValueError, OSError) as err:
        raise _refuse(path, f"{onnx_path.name} is not a readable ONNX file ({err})", "re-export the model") from None
    functions = (tensor for function in model.functions for tensor in _node_tensors(function.node))
    for tensor in itertools.chain(_tensors(model.graph), functions):
        for entry in tensor.external_data:
            if entry.key == "location":
                location = (onnx_path.parent / entry.value).resolve()
                if not location.is_relative_to(path.resolve()):
                    raise _refuse(
                        path,
                        f"{onnx_path.name} external data {entry.value!r} lies outside the bundle folder",
                        "refusing to read it; re-export the model with its data inside the bundle",
                    )


def _providers(device: str) -> list[str]:
    available = ort.get_available_providers()
    if device not in DEVICES:
        raise BadValue("device", device, f"give one of {', '.join(DEVICES)}")
    if device == "cuda" and CUDA not in available:
        raise BadValue("device", device, "onnxruntime has no CUDAExecutionProvider; install onnxruntime-gpu "
                       "or render on the CPU")
    if device != "cpu" and CUDA in available:
        return [CUDA, CPU]
    return [CPU]


def _open_session(path: Path, onnx_path: Path, providers: list[str]) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Idle worker threads would otherwise spin after each call, taking cores from the phase
    # reconstruction that runs between decodes.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(onnx_path), sess_options=options, providers=providers)
    except ORT_ERRORS as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise _refuse(path, f"onnxruntime cannot load {onnx_path.name} ({first_line})", "re-export the model") from None


def _check_io(path: Path, session: ort.InferenceSession, file: str, inputs: dict, outputs: dict) -> None:
    """Refuse a graph unless its inputs/outputs are exactly ``{name: width}``, float [N, width]."""
    for kind, args, expected in (("input", session.get_inputs(), inputs), ("output", session.get_outputs(), outputs)):
        names = [arg.name for arg in args]
        if sorted(names) != sorted(expected):
            raise _refuse(path, f"{file} {kind}s are {names}, expected {list(expected)}", "re-export the model")
        for arg in args:
            width = expected[arg.name]
            dims = list(arg.shape)
            if len(dims) != 2 or isinstance(dims[0], int) or dims[1] != width or arg.type != "tensor(float)":
                raise _refuse(
                    path,
                    f"{file} {kind} {arg.name!r} is {arg.type} {dims}, expected float [N, {width}] with a dynamic N",
                    "re-export the model with the bundle's audio spec and latent_dim",
                )


class ModelBundle:
    """An exported LTS model: encoder and decoder sessions, created once and reused.

    Use :meth:`ModelBundle.load`; it verifies the bundle before running anything.

    Attributes
    ----------
    path : Path
        The bundle folder.
    info : dict
        The parsed ``model.json``.
    provider : str
        The onnxruntime execution provider that actually runs the graphs.
    """

    def __init__(self, path: Path, info: dict, spec: AudioSpec, encoder, decoder) -> None:
        self.path = path
        self.info = info
        self._spec = spec
        self._encoder = encoder
        self._decoder = decoder
        self.provider = encoder.get_providers()[0]

    @classmethod
    def load(cls, path: str | Path, *, device: str = "auto") -> ModelBundle:
        """Verify and open a bundle folder.

        Parameters
        ----------
        path : the bundle folder (holding ``model.json``), or its ``model.json``
        device : ``"auto"`` (CUDA when onnxruntime offers it, else CPU), ``"cpu"`` or ``"cuda"``

        Raises
        ------
        LtsError
            The folder is not a valid bundle: missing or malformed ``model.json``, a hash
            mismatch, an unreadable graph, graph shapes that disagree with the spec, external
            data outside the folder; or ``device="cuda"`` without a CUDA provider.
        """
        path = Path(path)
        path = path.parent if path.name == "model.json" and path.is_file() else path
        providers = _providers(device)
        if not path.is_dir():
            raise _refuse(path, "no such folder", "pass the folder of an exported model (see `lts-sampler models`)")
        info = _read_info(path)
        spec, latent_dim = _read_spec(path, info)
        files = {role: _inside(path, info[role], role) for role in ("encoder", "decoder")}
        _check_hashes(path, info)
        for onnx_path in files.values():
            _check_external_data(path, onnx_path)
        encoder, decoder = (_open_session(path, files[role], providers) for role in ("encoder", "decoder"))
        _check_io(path, encoder, info["encoder"], {"magnitude": spec.n_bins}, {"mu": latent_dim, "logvar": latent_dim})
        _check_io(path, decoder, info["decoder"], {"z": latent_dim}, {"magnitude": spec.n_bins})
        return cls(path, info, spec, encoder, decoder)

    @property
    def name(self) -> str:
        return str(self.info["name"])

    @property
    def spec(self) -> AudioSpec:
        return self._spec

    @property
    def latent_dim(self) -> int:
        return int(self.info["latent_dim"])

    def encode(self, magnitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean and log-variance of magnitude frames.

        Parameters
        ----------
        magnitude : np.ndarray [shape=(frames, n_bins)], linear CQT magnitude

        Returns
        -------
        mu, logvar : np.ndarray [shape=(frames, latent_dim), dtype=float32]
        """
        x = _frames(magnitude, self.spec.n_bins, "magnitude")
        mu, logvar = _run(self._encoder, "magnitude", x, {"mu": self.latent_dim, "logvar": self.latent_dim})
        return mu, logvar

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Magnitude frames of latent vectors.

        Parameters
        ----------
        z : np.ndarray [shape=(frames, latent_dim)]

        Returns
        -------
        magnitude : np.ndarray [shape=(frames, n_bins), dtype=float32], linear, ≥ 0
        """
        x = _frames(z, self.latent_dim, "z")
        (magnitude,) = _run(self._decoder, "z", x, {"magnitude": self.spec.n_bins})
        return magnitude

    def __repr__(self) -> str:
        return (
            f"ModelBundle({self.name!r}, latent_dim={self.latent_dim}, sample_rate={self.spec.sample_rate}, "
            f"n_bins={self.spec.n_bins}, provider={self.provider!r}, path='{self.path}')"
        )


def _frames(x: np.ndarray, width: int, what: str) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != width:
        raise LtsError(f"{what} has shape {x.shape}, expected (frames, {width})")
    if not np.all(np.isfinite(x)):
        raise LtsError(f"{what} holds NaN or infinite values; pass finite frames")
    return x


def _run(session: ort.InferenceSession, input_name: str, x: np.ndarray, outputs: dict) -> list[np.ndarray]:
    """Run ``session`` over ``x`` in chunks of CHUNK_FRAMES rows; outputs ``{name: width}``."""
    if len(x) == 0:
        return [np.zeros((0, width), np.float32) for width in outputs.values()]
    names = list(outputs)
    parts = [session.run(names, {input_name: x[i : i + CHUNK_FRAMES]}) for i in range(0, len(x), CHUNK_FRAMES)]
    return [np.concatenate([p[k] for p in parts]).astype(np.float32, copy=False) for k in range(len(names))]
