"""``lts-sampler doctor``: what this machine offers the sampler (DESIGN §8–§9).

Every probe is guarded: a missing library, driver or server becomes a line that says why and
what to install, never an exception. Nothing here imports torch or starts a server.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import platform
import shutil

from lts_sampler.core.native import quiet_native

PACKAGES = ("numpy", "librosa", "soundfile", "soxr", "onnx", "mido", "python-rtmidi", "sounddevice", "textual")
CUDA = "CUDAExecutionProvider"
MIDI_HINTS = {
    "LINUX_ALSA": "needs a readable /dev/snd/seq: load snd-seq, or use JACK",
    "UNIX_JACK": "no JACK server running; start one: jackd --no-realtime -d dummy -r 44100 -p 256",
}


def report() -> dict:
    """Probe versions, onnxruntime, model bundles, audio outputs, MIDI ports and JACK.

    Returns
    -------
    data : dict of JSON-serialisable sections; a section whose probe failed is
        ``{"error": text}``, one whose library is missing ``{"reason": what to install}``

        - ``versions``: ``{name: version or "not installed"}``
        - ``onnxruntime``: ``version``, ``build_device``, ``providers``, ``auto_device``
        - ``models``: ``default``, the default model's ``path`` and ``source`` ("package",
          "$LTS_SAMPLER_MODELS", or None where it is in neither); ``bundles``, each ``name``,
          ``path``, ``loads`` and ``provider`` or ``error``
        - ``phase``: ``auto_device`` (where reconstruction runs by default), ``cupy`` (version
          or "not installed"), ``gpu`` (CuPy's first device, or None)
        - ``audio``: ``portaudio``, ``default_output`` (name or None), ``outputs``, each
          ``name``, ``hostapi``, ``max_output_channels``, ``default_samplerate``
        - ``midi``: ``apis``, ``{api: {"inputs": [...], "outputs": [...]} or {"error": text}}``
        - ``jack``: ``jackd``, its path or None
    """
    probes = {"versions": _versions, "onnxruntime": _onnxruntime, "models": _models, "phase": _phase,
              "audio": _audio, "midi": _midi, "jack": _jack}
    return {name: _guarded(probe) for name, probe in probes.items()}


def _guarded(probe) -> dict:
    try:
        return probe()
    except Exception as err:  # doctor reports every failure instead of raising it
        return {"error": f"{type(err).__name__}: {err}"}


def _dist_version(*names: str) -> str:
    """Installed version of the first of ``names`` (distribution names) found, without importing it."""
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return importlib.metadata.version(name)
    return "not installed"


def _versions() -> dict:
    from lts_sampler import __version__

    versions = {"lts-sampler": __version__, "python": platform.python_version(),
                "platform": platform.platform(), "machine": platform.machine()}
    for name in PACKAGES:
        versions[name] = _dist_version(name)
        if name == "soundfile":
            versions["libsndfile"] = _libsndfile()
        if name == "onnx":
            versions["onnxruntime"] = _dist_version("onnxruntime", "onnxruntime-gpu")
    versions["torch"] = _torch_version()
    return versions


def _libsndfile() -> str:
    try:
        import soundfile
    except (ImportError, OSError) as err:  # soundfile raises OSError when libsndfile is missing
        return f"unavailable ({err})"
    return soundfile.__libsndfile_version__


def _torch_version() -> str:
    """Torch's version from its metadata and import spec; the runtime never imports it."""
    return "not installed" if importlib.util.find_spec("torch") is None else _dist_version("torch")


def _onnxruntime() -> dict:
    import onnxruntime as ort

    providers = ort.get_available_providers()
    return {"version": ort.__version__, "build_device": ort.get_device(), "providers": providers,
            "auto_device": "cuda" if CUDA in providers else "cpu"}


def _models() -> dict:
    from lts_sampler.core.errors import LtsError
    from lts_sampler.synthesis.model import ModelBundle, default_bundle_path, find_bundles, models_dir

    default = default_bundle_path()
    if not (default / "model.json").is_file():
        source = None
    else:
        source = "package" if default.parent == models_dir() else "$LTS_SAMPLER_MODELS"
    bundles = []
    for path in find_bundles():
        entry = {"name": path.name, "path": str(path), "loads": False}
        try:
            bundle = ModelBundle.load(path, device="cpu")
            entry |= {"name": bundle.name, "loads": True, "provider": bundle.provider}
        except (LtsError, OSError) as err:
            entry["error"] = str(err)
        bundles.append(entry)
    return {"default": {"path": str(default), "source": source}, "bundles": bundles}


def _phase() -> dict:
    from lts_sampler.synthesis.phase import resolve_backend

    device = resolve_backend("auto")
    gpu = None
    if device == "cuda":
        import cupy

        gpu = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    return {"auto_device": device, "cupy": _dist_version("cupy-cuda12x", "cupy-cuda13x", "cupy"), "gpu": gpu}


def _audio() -> dict:
    try:
        with quiet_native():
            import sounddevice as sd
    except ImportError:
        return {"reason": "sounddevice not installed: pip install sounddevice"}
    except OSError:
        return {"reason": "PortAudio not found: apt-get install libportaudio2"}
    with quiet_native():
        hostapis = [api["name"] for api in sd.query_hostapis()]
        devices = [
            {"name": dev["name"], "hostapi": hostapis[dev["hostapi"]],
             "max_output_channels": dev["max_output_channels"], "default_samplerate": dev["default_samplerate"]}
            for dev in sd.query_devices() if dev["max_output_channels"] > 0
        ]
        try:
            default = sd.query_devices(kind="output")["name"]
        except sd.PortAudioError:
            default = None
    return {"portaudio": sd.get_portaudio_version()[1], "outputs": devices, "default_output": default}


def _midi() -> dict:
    try:
        import mido
    except ImportError:
        return {"reason": "mido not installed: pip install mido python-rtmidi"}
    try:
        apis = mido.Backend("mido.backends.rtmidi").module.get_api_names()
    except ImportError:
        return {"reason": "python-rtmidi not installed: pip install python-rtmidi"}
    return {"apis": {api: _midi_ports(mido, api) for api in apis}}


def _midi_ports(mido, api: str) -> dict:
    backend = mido.Backend(f"mido.backends.rtmidi/{api}")
    try:
        with quiet_native():
            return {"inputs": backend.get_input_names(), "outputs": backend.get_output_names()}
    except Exception as err:  # rtmidi raises its own SystemError when a driver or server is absent
        hint = MIDI_HINTS.get(api)
        return {"error": f"{err} ({hint})" if hint else str(err)}


def _jack() -> dict:
    return {"jackd": shutil.which("jackd")}


def format_report(data: dict) -> str:
    """Plain-text report of :func:`report`'s data: one titled section each, aligned ``key : value`` lines."""
    sections = {"Versions": ("versions", lambda v: [(k, str(x)) for k, x in v.items()]),
                "ONNX Runtime": ("onnxruntime", _ort_rows), "Models": ("models", _model_rows),
                "Phase reconstruction": ("phase", _phase_rows),
                "Audio outputs": ("audio", _audio_rows), "MIDI ports": ("midi", _midi_rows),
                "JACK": ("jack", lambda j: [("jackd", j["jackd"] or "not found on PATH (apt-get install jackd2)")])}
    blocks = []
    for title, (key, rows) in sections.items():
        section = data.get(key, {"error": "not probed"})
        if "error" in section or "reason" in section:
            lines = [("status", section.get("error") or section["reason"])]
        else:
            lines = rows(section)
        width = max(len(k) for k, _ in lines)
        blocks.append("\n".join([title, *(f"  {k:<{width}} : {v}" for k, v in lines)]))
    return "\n\n".join(blocks)


def _phase_rows(section: dict) -> list[tuple[str, str]]:
    hint = "" if section["gpu"] else " (a GPU needs CuPy: pip install 'lts-sampler[gpu]')"
    return [("device", section["auto_device"] + hint), ("cupy", section["cupy"]), ("gpu", section["gpu"] or "none")]


def _ort_rows(section: dict) -> list[tuple[str, str]]:
    return [("version", section["version"]), ("build", section["build_device"]),
            ("providers", ", ".join(section["providers"])), ("--device auto", section["auto_device"])]


def _model_rows(section: dict) -> list[tuple[str, str]]:
    default = section["default"]
    if default["source"] is None:
        found = "lts-default not found: reinstall lts-sampler, or put it in a folder of $LTS_SAMPLER_MODELS"
    else:
        found = f"{default['path']} (from {'the package' if default['source'] == 'package' else default['source']})"
    rows = [(b["name"], f"loads ({b['provider']}) {b['path']}" if b["loads"] else f"does not load: {b['error']}")
            for b in section["bundles"]]
    return [("default model", found), *(rows or [("bundles", "none found in the package or $LTS_SAMPLER_MODELS")])]


def _audio_rows(section: dict) -> list[tuple[str, str]]:
    rows = [("portaudio", section["portaudio"]), ("default output", section["default_output"] or "none")]
    rows += [(f"output {i}", f"{d['name']} [{d['hostapi']}] {d['max_output_channels']} ch, "
                             f"{d['default_samplerate']:g} Hz") for i, d in enumerate(section["outputs"])]
    return rows if section["outputs"] else [*rows, ("outputs", "no output devices found")]


def _midi_rows(section: dict) -> list[tuple[str, str]]:
    rows = []
    for api, ports in section["apis"].items():
        if "error" in ports:
            rows.append((api, ports["error"]))
        else:
            rows += [(f"{api} {kind}", ", ".join(ports[kind]) or "none") for kind in ("inputs", "outputs")]
    return rows or [("status", "rtmidi has no compiled APIs")]
