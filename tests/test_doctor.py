"""``lts-sampler doctor``: a guarded, JSON-serialisable report that needs no sound hardware."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import sys

import pytest
from support.bundles import write_bundle
from support.cli import WITHOUT_TORCH, python

from lts_sampler.faces import doctor
from lts_sampler.synthesis.model import default_bundle_path

SECTIONS = ("versions", "onnxruntime", "models", "phase", "audio", "midi", "jack")
TITLES = ("Versions", "ONNX Runtime", "Models", "Phase reconstruction", "Audio outputs", "MIDI ports", "JACK")


@pytest.fixture(scope="module")
def data() -> dict:
    return doctor.report()


def test_report_has_every_section_and_serialises_to_json(data):
    assert tuple(data) == SECTIONS
    assert json.loads(json.dumps(data)) == data
    assert not [name for name in SECTIONS if "error" in data[name]]


def test_versions_name_runtime_packages_and_python(data):
    versions = data["versions"]
    assert versions["onnxruntime"][0].isdigit() and versions["numpy"][0].isdigit()
    assert versions["python"] == ".".join(map(str, sys.version_info[:3]))
    assert {"lts-sampler", "libsndfile", "torch", "mido", "sounddevice", "textual"} <= set(versions)


def test_onnxruntime_lists_cpu_provider_and_auto_device(data):
    ort = data["onnxruntime"]
    assert "CPUExecutionProvider" in ort["providers"]
    assert ort["auto_device"] == ("cuda" if "CUDAExecutionProvider" in ort["providers"] else "cpu")


def test_phase_reconstruction_names_its_device(data):
    phase = data["phase"]
    assert phase["auto_device"] in ("cpu", "cuda")
    assert (phase["gpu"] is None) == (phase["auto_device"] == "cpu")
    if phase["gpu"] is None:
        assert "pip install 'lts-sampler[gpu]'" in doctor.format_report(data)


def test_default_model_is_listed_as_loadable(data):
    bundles = {b["name"]: b for b in data["models"]["bundles"]}
    assert bundles["lts-default"]["loads"] is True
    assert bundles["lts-default"]["path"] == str(default_bundle_path())
    assert f"default model : {default_bundle_path()} (from the package)" in doctor.format_report(data)


def test_broken_bundle_is_listed_with_its_error(tmp_path, monkeypatch):
    broken = write_bundle(tmp_path / "broken")
    with open(broken / "decoder.onnx", "ab") as f:
        f.write(b"\0")
    monkeypatch.setenv("LTS_SAMPLER_MODELS", str(tmp_path))
    entry = next(b for b in doctor.report()["models"]["bundles"] if b["path"] == str(broken))
    assert entry["loads"] is False and "sha256 mismatch for decoder.onnx" in entry["error"]


def test_format_report_titles_every_section_with_aligned_keys(data):
    text = doctor.format_report(data)
    assert [line for line in text.splitlines() if line and not line.startswith(" ")] == list(TITLES)
    assert "lts-default" in text and "CPUExecutionProvider" in text
    versions = text.split("\n\n")[0].splitlines()[1:]
    assert len({line.index(" : ") for line in versions}) == 1


def test_format_report_lists_audio_outputs_and_midi_ports(data):
    found = data | {
        "audio": {"portaudio": "PortAudio V19", "default_output": "pulse", "outputs": [
            {"name": "pulse", "hostapi": "ALSA", "max_output_channels": 32, "default_samplerate": 44100.0}]},
        "midi": {"apis": {"UNIX_JACK": {"inputs": ["a:in"], "outputs": []}, "LINUX_ALSA": {"error": "no seq"}}},
        "jack": {"jackd": "/usr/bin/jackd"},
    }
    text = doctor.format_report(found)
    assert "  output 0       : pulse [ALSA] 32 ch, 44100 Hz" in text and "default output : pulse" in text
    assert "UNIX_JACK inputs  : a:in" in text and "UNIX_JACK outputs : none" in text
    assert "LINUX_ALSA        : no seq" in text and "jackd : /usr/bin/jackd" in text


def test_failed_probe_becomes_an_error_line(monkeypatch):
    monkeypatch.setattr(doctor, "_jack", lambda: 1 / 0)
    data = doctor.report()
    assert data["jack"] == {"error": "ZeroDivisionError: division by zero"}
    assert "JACK\n  status : ZeroDivisionError: division by zero" in doctor.format_report(data)


def test_missing_optional_packages_say_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    monkeypatch.setitem(sys.modules, "mido", None)
    data = doctor.report()
    assert data["audio"] == {"reason": "sounddevice not installed: pip install sounddevice"}
    assert data["midi"] == {"reason": "mido not installed: pip install mido python-rtmidi"}
    assert "status : mido not installed: pip install mido python-rtmidi" in doctor.format_report(data)


def test_missing_portaudio_is_reported_not_raised(monkeypatch):
    class NoPortAudio:
        def find_spec(self, name, path=None, target=None):
            if name == "sounddevice":
                raise OSError("PortAudio library not found")

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [NoPortAudio(), *sys.meta_path])
    assert doctor.report()["audio"] == {"reason": "PortAudio not found: apt-get install libportaudio2"}


def test_midi_errors_are_text_per_api(data):
    for api, ports in data["midi"].get("apis", {}).items():
        assert isinstance(ports.get("error"), str) or {"inputs", "outputs"} <= set(ports), api


def test_report_names_torchs_version_without_importing_it():
    done = python("from lts_sampler.faces import doctor\nprint(doctor.report()['versions']['torch'])", refuse=["torch"])
    installed = importlib.util.find_spec("torch") is not None
    assert done.stdout.strip() == (importlib.metadata.version("torch") if installed else "not installed"), done.stderr


def test_report_works_when_torch_is_not_installed():
    done = python(WITHOUT_TORCH + "from lts_sampler.faces import doctor\nprint(doctor.report()['versions']['torch'])")
    assert done.stdout.strip() == "not installed", done.stderr
