"""Kit folders (DESIGN §6): SFZ + 24-bit WAVs + kit.json, written whole or not at all.

    kits/<name>/<name>.sfz   kits/<name>/samples/*.wav   kits/<name>/kit.json

``keys`` puts one sample per key from the root note up, like a drum kit; ``morph`` spreads
every layer over the keyboard around the root and cross-fades the layers on the mod wheel
(CC1) with the SFZ power curve, so any SFZ player sweeps the timbre from A to B.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import soundfile as sf

from lts_sampler import __version__
from lts_sampler.atomic import check_replaceable, replacing_dir, write_json, write_text
from lts_sampler.errors import LtsError
from lts_sampler.model import ModelBundle, resolve_bundle, sha256_file
from lts_sampler.phase import resolve_backend
from lts_sampler.render import Layer, RenderedSample, RenderSettings, Source, render_bank

FORMAT = "lts-kit/1"
MODES = ("keys", "morph")
MORPH_CC = 1
RELEASE_S = 0.25


def kit_name(target: Path) -> str:
    """The kit's name from its folder; only letters, digits, '.', '_' and '-' are kept."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", target.name).strip(".-")
    if not name:
        raise LtsError(f"cannot name a kit after {str(target)!r}; give an output folder like kits/my-kit")
    return name


def sample_name(index: int, layer: Layer, round_robin: int, round_robins: int) -> str:
    """``03_a+0.25.wav``; with round robins ``03_a+0.25_rr2.wav``."""
    suffix = f"_rr{round_robin}" if round_robins > 1 else ""
    return f"{index:02d}_{layer.label}{suffix}.wav"


def crossfade_points(n_layers: int) -> list[int]:
    """CC values where each layer sounds alone: 0 … 127, evenly spread."""
    if n_layers == 1:
        return [0]
    return [round(i * 127 / (n_layers - 1)) for i in range(n_layers)]


def key_map(n_layers: int, round_robins: int, *, mode: str, root: int, names: list[str]) -> list[dict]:
    """One region per sample (layer-major, round robins inner), as plain opcode tables."""
    if mode not in MODES:
        raise LtsError(f"unknown kit mode {mode!r}; choose keys or morph")
    if mode == "keys" and root + n_layers - 1 > 127:
        raise LtsError(f"{n_layers} samples from root note {root} run past MIDI note 127; lower --root")
    points = crossfade_points(n_layers)
    regions = []
    for layer in range(n_layers):
        for rr in range(1, round_robins + 1):
            region = {"sample": names[layer * round_robins + rr - 1], "layer": layer, "round_robin": rr}
            if mode == "keys":
                region["key"] = root + layer
            else:
                region.update(lokey=0, hikey=127, pitch_keycenter=root)
                if layer > 0:
                    region.update(xfin_locc1=points[layer - 1], xfin_hicc1=points[layer])
                if layer < n_layers - 1:
                    region.update(xfout_locc1=points[layer], xfout_hicc1=points[layer + 1])
            regions.append(region)
    return regions


SFZ_REGION_KEYS = ("key", "lokey", "hikey", "pitch_keycenter", "xfin_locc1", "xfin_hicc1", "xfout_locc1", "xfout_hicc1")


def sfz_text(name: str, regions: list[dict], layers: list[Layer], *, mode: str, round_robins: int, sources: list[Source]) -> str:
    """The SFZ v2 instrument; sample paths are relative (``default_path=samples/``)."""
    lines = [f"// {name}: made by lts-sampler {__version__}"]
    lines += [f"// source {chr(65 + i)}: {s.path.name}" for i, s in enumerate(sources)]
    if mode == "morph":
        lines.append(f"// the mod wheel (CC{MORPH_CC}) moves through the layers: {layers[0].label} … {layers[-1].label}")
    lines += ["", "<control>", "default_path=samples/"]
    if mode == "morph":
        lines.append(f"set_cc{MORPH_CC}=0")
    lines += ["", "<global>", f"ampeg_release={RELEASE_S}"]
    if mode == "keys":
        lines.append("pitch_keytrack=0")
    else:
        lines.append("xf_cccurve=power")
    if round_robins > 1:
        lines.append(f"seq_length={round_robins}")
    for layer_index, layer in enumerate(layers):
        lines += ["", f"<group> // layer {layer_index}: {layer.label}"]
        for region in (r for r in regions if r["layer"] == layer_index):
            opcodes = [f"sample={region['sample']}"] + [f"{k}={region[k]}" for k in SFZ_REGION_KEYS if k in region]
            if round_robins > 1:
                opcodes.append(f"seq_position={region['round_robin']}")
            lines.append("<region> " + " ".join(opcodes))
    return "\n".join(lines) + "\n"


def describe_source(source: Source) -> dict:
    path = source.path.resolve()
    return {"path": str(path), "sha256": sha256_file(path), "offset": source.offset, "duration": source.duration}


def make_kit(
    bundle: ModelBundle,
    sources: list[Source],
    layers: list[Layer],
    settings: RenderSettings,
    target: str | Path,
    *,
    mode: str = "keys",
    root: int = 60,
    backend: str = "cpu",
    progress: Callable[[int, int, str], None] | None = None,
    sample_progress: Callable[[int, float], None] | None = None,
) -> dict:
    """Render the bank and write the kit folder at ``target`` atomically; returns kit.json.
    ``backend``: where phase reconstruction runs, "cpu" or "cuda"; ``progress`` and
    ``sample_progress`` as :func:`render_bank` calls them."""
    target = Path(target)
    name = kit_name(target)
    if not 0 <= root <= 127:
        raise LtsError(f"root note {root} is outside MIDI notes 0–127")
    names = [sample_name(i, layer, rr, settings.round_robins)
             for i, layer in enumerate(layers) for rr in range(1, settings.round_robins + 1)]
    regions = key_map(len(layers), settings.round_robins, mode=mode, root=root, names=names)
    check_writable(target)
    manifest = {
        "format": FORMAT,
        "name": name,
        "model": {"name": bundle.name, "path": str(bundle.path.resolve()), "sha256": bundle.info["sha256"]},
        "sources": [describe_source(s) for s in sources],
        "layers": [layer.describe() for layer in layers],
        "mode": mode,
        "root": root,
        "settings": dataclasses.asdict(settings),
        "sample_rate": bundle.spec.sample_rate,
        "regions": regions,
        "software": f"lts-sampler {__version__}",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    rendered = render_bank(bundle, sources, layers, settings, backend=backend, progress=progress,
                           sample_progress=sample_progress)
    write_kit(target, manifest, rendered, layers, sources)
    return manifest


def write_kit(target: Path, manifest: dict, rendered: list[RenderedSample], layers: list[Layer], sources: list[Source]) -> None:
    """Samples (named by the manifest's regions, in render order), SFZ and kit.json into a
    hidden folder beside ``target``, then one rename."""
    try:
        with replacing_dir(target) as tmp:
            (tmp / "samples").mkdir()
            for sample, region in zip(rendered, manifest["regions"]):
                sf.write(tmp / "samples" / region["sample"], sample.audio, manifest["sample_rate"], subtype="PCM_24")
            sfz = sfz_text(manifest["name"], manifest["regions"], layers, mode=manifest["mode"],
                           round_robins=manifest["settings"]["round_robins"], sources=sources)
            write_text(tmp / f"{manifest['name']}.sfz", sfz)
            write_json(tmp / "kit.json", manifest)
    except OSError as err:
        raise LtsError(f"cannot write the kit to {target}: {err.strerror}; choose another output folder (-o)") from None


def check_writable(target: Path) -> None:
    """Fail before rendering, not after, when the kit could not be written."""
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise LtsError(f"cannot write the kit to {target}: {parent} is not a writable folder; choose another output folder (-o)")
    if target.exists() and not target.is_dir():
        raise LtsError(f"cannot write the kit to {target}: a file of that name exists; choose another output folder (-o)")
    check_replaceable(target, marker="kit.json", what="kit")


def read_manifest(path: str | Path) -> dict:
    """A kit.json, checked enough to re-render from; LtsError when it is not one."""
    path = Path(path)
    if path.is_dir():
        path = path / "kit.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise LtsError(f"cannot read kit manifest {path}: {err}; pass the kit.json of a rendered kit") from None
    needed = ("format", "model", "sources", "layers", "mode", "root", "settings")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or any(k not in manifest for k in needed):
        raise LtsError(f"{path} is not an lts-kit/1 manifest; pass the kit.json of a rendered kit")
    problem = _manifest_problem(manifest)
    if problem:
        raise LtsError(f"{path} is a damaged lts-kit/1 manifest: {problem}; render the kit again from its sources")
    return manifest


def _number(value) -> bool:
    return type(value) in (int, float)


def _manifest_problem(manifest: dict) -> str | None:
    """What in a kit.json does not have the shape a render wrote, or None."""
    model, sources, layers, settings = (manifest[k] for k in ("model", "sources", "layers", "settings"))
    if not (isinstance(model, dict) and isinstance(model.get("name"), str) and isinstance(model.get("path"), str)
            and isinstance(model.get("sha256"), dict)):
        return "model needs a name, a path and sha256 hashes"
    if not isinstance(sources, list) or not all(
            isinstance(s, dict) and isinstance(s.get("path"), str) and isinstance(s.get("sha256"), str)
            and _number(s.get("offset")) and (s.get("duration") is None or _number(s.get("duration"))) for s in sources):
        return "each source needs a path, a sha256, an offset and a duration"
    if not isinstance(layers, list) or not layers or not all(_layer_ok(layer) for layer in layers):
        return "each layer needs one of alpha (a number), curve ([time, α] pairs) or weights (numbers)"
    fields = {f.name for f in dataclasses.fields(RenderSettings)}
    if not isinstance(settings, dict) or not settings.keys() <= fields or not all(type(v) in (int, bool) for v in settings.values()):
        return f"settings may hold only whole numbers and flags for {', '.join(sorted(fields))}"
    if manifest["mode"] not in MODES or type(manifest["root"]) is not int:
        return "mode must be keys or morph, and root a MIDI note number"
    return None


def _layer_ok(layer) -> bool:
    if not isinstance(layer, dict) or len(layer.keys() & {"alpha", "curve", "weights"}) != 1:
        return False
    if "alpha" in layer:
        return _number(layer["alpha"])
    if "curve" in layer:
        return isinstance(layer["curve"], list) and all(
            isinstance(p, list) and len(p) == 2 and all(map(_number, p)) for p in layer["curve"])
    return isinstance(layer["weights"], list) and all(map(_number, layer["weights"]))


def sources_from_manifest(manifest: dict) -> list[Source]:
    """The manifest's sources, refused if a file changed since the kit was rendered."""
    sources = []
    for entry in manifest["sources"]:
        path = Path(entry["path"])
        if not path.is_file():
            raise LtsError(f"source {path} of the kit is gone; put it back to re-render")
        if sha256_file(path) != entry["sha256"]:
            raise LtsError(f"source {path} changed since the kit was rendered (sha256 differs); the kit cannot be reproduced")
        sources.append(Source(path, entry["offset"], entry["duration"]))
    return sources


def rerender(manifest_path: str | Path, target: str | Path | None = None, *, device: str = "auto", progress=None) -> dict:
    """Render a kit again from its kit.json (into ``target``, default: the kit's own folder)."""
    manifest = read_manifest(manifest_path)
    model = manifest["model"]
    bundle = ModelBundle.load(resolve_bundle(model["path"] if Path(model["path"]).exists() else model["name"]), device=device)
    if bundle.info["sha256"] != manifest["model"]["sha256"]:
        raise LtsError(f"model {bundle.name} changed since the kit was rendered; the kit cannot be reproduced")
    manifest_path = Path(manifest_path)
    kit_dir = manifest_path if manifest_path.is_dir() else manifest_path.parent
    return make_kit(
        bundle, sources_from_manifest(manifest), [Layer.from_dict(d) for d in manifest["layers"]],
        RenderSettings(**manifest["settings"]), Path(target) if target else kit_dir,
        mode=manifest["mode"], root=manifest["root"], backend=resolve_backend(device), progress=progress,
    )
