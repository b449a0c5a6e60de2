"""The kit format (DESIGN §6): kit.json and the SFZ text, key maps, crossfade points, names.

    kits/<name>/<name>.sfz   kits/<name>/samples/*.wav   kits/<name>/kit.json

``keys`` puts one sample per key from the root note up, like a drum kit; ``morph`` spreads
every layer over the keyboard around the root and cross-fades the layers on the mod wheel
(CC1) with the SFZ power curve, so any SFZ player sweeps the timbre from A to B; ``grid``
spreads every cell of a pad of four sources (:mod:`lts_sampler.core.pad`) over the keyboard
and cross-fades the columns on one controller and the rows on another: SFZ players multiply
the two fades, so the four cells around any controller position sum to 1 in power.

A kit has one bank of samples per pitch: one at the root, or several (morph and grid) from
sets of notes (:mod:`lts_sampler.synthesis.pitches`), each on the keys nearest its pitch.
Reading and writing this format needs numpy and the standard library only; making a kit,
which renders, is :mod:`lts_sampler.kits.make`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from lts_sampler import __version__
from lts_sampler.core.banks import Bank, Layer, RenderSettings, Source
from lts_sampler.core.digest import sha256_file
from lts_sampler.core.errors import BadValue, LtsError
from lts_sampler.core.pad import Grid, crossfade_points

FORMAT = "lts-kit/1"
MODES = ("keys", "morph", "grid")
CORNERS = ("lower left", "lower right", "upper left", "upper right")
"""Where sources A, B, C and D sit on the pad (X to the right, Y up)."""
SOURCE_LABELS = "ABCDEFGH"
"""Sources are named by letter: A and B of a pair, A–D on a pad's corners."""
MORPH_CC = 1
RELEASE_S = 0.25


def safe_name(text: str) -> str:
    """``text`` fit for a file name: only letters, digits, '.', '_' and '-' kept ("" if none)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")


def kit_name(target: Path) -> str:
    """The kit's name from its folder (:func:`safe_name`)."""
    name = safe_name(target.name)
    if not name:
        raise BadValue("out", str(target), "a kit's folder name needs a letter or a digit, e.g. kits/my-kit")
    return name


def sample_name(index: int, layer: Layer, round_robin: int, round_robins: int, pitch: int | None = None) -> str:
    """``03_a+0.25.wav``; a grid cell ``g2-3.wav``; in a kit of several pitches the bank's
    MIDI note follows (``03_a+0.25_60.wav``), then the round robin (``03_a+0.25_rr2.wav``)."""
    name = layer.label if layer.cell is not None else f"{index:02d}_{layer.label}"
    if pitch is not None:
        name += f"_{pitch}"
    if round_robins > 1:
        name += f"_rr{round_robin}"
    return name + ".wav"


def crossfade(index: int, count: int, cc: int) -> dict:
    """The ``xfin``/``xfout`` opcodes of step ``index`` of ``count`` along controller ``cc``:
    it fades in from the previous step's point and out towards the next one's."""
    points = crossfade_points(count)
    fades = {}
    if index > 0:
        fades.update({f"xfin_locc{cc}": points[index - 1], f"xfin_hicc{cc}": points[index]})
    if index < count - 1:
        fades.update({f"xfout_locc{cc}": points[index], f"xfout_hicc{cc}": points[index + 1]})
    return fades


def key_map(layers: list[Layer], round_robins: int, *, mode: str, banks: list[Bank], names: list[str],
            grid: Grid | None = None) -> list[dict]:
    """One region per sample (bank-major, then layer, round robins inner), as plain opcode
    tables: keys mode puts layer k on key ``pitch + k`` of the one bank; morph and grid spread
    every layer over each bank's keys, cross-fading on CC1 (morph) or on the grid's two
    controllers (cell (i, j): column i on ``cc_x``, row j on ``cc_y``)."""
    if mode not in MODES:
        raise LtsError(f"unknown kit mode {mode!r}; choose {', '.join(MODES)}")
    if mode == "keys" and banks[0].pitch + len(layers) - 1 > 127:
        raise BadValue("root", banks[0].pitch, f"{len(layers)} samples from here run past MIDI note 127; give a lower note")
    names_left = iter(names)
    regions = []
    for bank in banks:
        for index, layer in enumerate(layers):
            if mode == "keys":
                place = {"key": bank.pitch + index}
            else:
                place = {"lokey": bank.lokey, "hikey": bank.hikey, "pitch_keycenter": bank.pitch}
                if mode == "morph":
                    place.update(crossfade(index, len(layers), MORPH_CC))
                else:
                    i, j = layer.cell
                    place.update(crossfade(i, grid.size, grid.cc_x) | crossfade(j, grid.size, grid.cc_y))
            for rr in range(1, round_robins + 1):
                regions.append({"sample": next(names_left), "layer": index, "round_robin": rr, **place})
    return regions


KIT_ONLY = ("sample", "layer", "round_robin")
"""Region fields of kit.json that are not SFZ opcodes (``sample`` is written first)."""


def sfz_text(name: str, regions: list[dict], layers: list[Layer], *, mode: str, round_robins: int,
             banks: list[Bank], grid: Grid | None = None) -> str:
    """The SFZ v2 instrument; sample paths are relative (``default_path=samples/``)."""
    lines = [f"// {name}: made by lts-sampler {__version__}"]
    for number, excerpts in enumerate(zip(*(bank.sources for bank in banks))):
        files = list(dict.fromkeys(s.path.name for s in excerpts))
        what = files[0] if len(files) == 1 else f"{files[0]} … {files[-1]} (a note for each pitch)"
        corner = f" at the pad's {CORNERS[number]} corner" if mode == "grid" else ""
        lines.append(f"// source {SOURCE_LABELS[number]}{corner}: {what}")
    if len(banks) > 1:
        lines.append("// pitches: " + ", ".join(f"{b.pitch} on keys {b.lokey}–{b.hikey}" for b in banks))
    controls = ["", "<control>", "default_path=samples/"]
    if mode == "morph":
        lines.append(f"// the mod wheel (CC{MORPH_CC}) moves through the layers: {layers[0].label} … {layers[-1].label}")
        controls += [f"set_cc{MORPH_CC}=0", f"label_cc{MORPH_CC}=timbre A-B"]
    elif mode == "grid":
        lines.append(f"// a {grid.size} x {grid.size} pad: CC{grid.cc_x} moves from A to B, CC{grid.cc_y} from A to C")
        controls += [f"set_cc{grid.cc_x}=0", f"set_cc{grid.cc_y}=0", f"label_cc{grid.cc_x}=pad X (A-B)",
                     f"label_cc{grid.cc_y}=pad Y (A-C)"]
    lines += controls + ["", "<global>", f"ampeg_release={RELEASE_S}"]
    lines.append("pitch_keytrack=0" if mode == "keys" else "xf_cccurve=power")
    if round_robins > 1:
        lines.append(f"seq_length={round_robins}")
    for layer_index, layer in enumerate(layers):
        lines += ["", f"<group> // layer {layer_index}: {layer.label}"]
        for region in (r for r in regions if r["layer"] == layer_index):
            opcodes = [f"sample={region['sample']}"] + [f"{k}={v}" for k, v in region.items() if k not in KIT_ONLY]
            if round_robins > 1:
                opcodes.append(f"seq_position={region['round_robin']}")
            lines.append("<region> " + " ".join(opcodes))
    return "\n".join(lines) + "\n"


def played_once(manifest: dict) -> list[str] | None:
    """The samples of a kit rendered with sustain loops that play once (no room for a loop
    after their attack); None for a kit rendered without loops."""
    if not manifest["settings"].get("loop"):
        return None
    return [region["sample"] for region in manifest["regions"] if region.get("loop_mode") != "loop_sustain"]


def describe_loops(manifest: dict) -> str | None:
    """One line on a kit's sustain loops (None for a kit rendered without loops): all there,
    or how many samples play once, and the first few names."""
    once = played_once(manifest)
    if once is None:
        return None
    if not once:
        return "held notes sustain: every sample has a loop"
    return (f"{len(once)} of {len(manifest['regions'])} samples play once, with no room for a loop after the "
            f"attack: {', '.join(once[:3])}{' …' if len(once) > 3 else ''}")


def describe_source(source: Source) -> dict:
    path = source.path.resolve()
    return {"path": str(path), "sha256": sha256_file(path), "offset": source.offset, "duration": source.duration}


def single_bank(sources: list[Source], root: int) -> list[Bank]:
    """The banks of a kit of one pitch: every source, ``root`` the first key (keys mode) or
    the pitch the sources sound at (morph, grid), all keys."""
    if not 0 <= root <= 127:
        raise BadValue("root", root, "give a MIDI note 0–127")
    return [Bank(root, tuple(sources))]


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
        return f"mode must be one of {', '.join(MODES)}, and root a MIDI note number"
    banks = manifest.get("banks", [])
    if not isinstance(banks, list) or not all(
            isinstance(b, dict) and all(type(b.get(k)) is int and 0 <= b[k] <= 127 for k in ("pitch", "lokey", "hikey"))
            and isinstance(b.get("sources"), list)
            and all(type(i) is int and 0 <= i < len(sources) for i in b["sources"]) for b in banks):
        return "each bank needs a pitch, lokey and hikey (MIDI notes) and the indices of its sources"
    if (manifest["mode"] == "grid") != ("grid" in manifest):
        return "a grid kit, and only one, has a grid record"
    if "grid" in manifest:
        try:
            Grid.from_dict(manifest["grid"])
        except (LtsError, KeyError, TypeError, ValueError):
            return "the grid record needs a size, a range [low, high] and two controllers cc_x, cc_y"
    return None


def _layer_ok(layer) -> bool:
    if not isinstance(layer, dict) or len(layer.keys() & {"alpha", "curve", "weights"}) != 1:
        return False
    cell = layer.get("cell", [0, 0])
    if not (isinstance(cell, list) and len(cell) == 2 and all(type(c) is int for c in cell)):
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


def banks_from_manifest(manifest: dict) -> list[Bank]:
    """The manifest's banks with their sources (checked as :func:`sources_from_manifest`
    does); a kit from before banks were recorded is one bank at its root."""
    sources = sources_from_manifest(manifest)
    if "banks" not in manifest:
        return single_bank(sources, manifest["root"])
    return [Bank(b["pitch"], tuple(sources[i] for i in b["sources"]), b["lokey"], b["hikey"]) for b in manifest["banks"]]
