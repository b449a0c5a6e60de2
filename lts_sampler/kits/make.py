"""Making a kit (DESIGN §6): render every bank, then write the kit folder whole or not at all.

The format itself (SFZ, kit.json, key maps) is :mod:`lts_sampler.core.kitformat`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import soundfile as sf

from lts_sampler import __version__
from lts_sampler.core.atomic import check_replaceable, replacing_dir, write_json, write_text
from lts_sampler.core.banks import Bank, Layer, RenderSettings
from lts_sampler.core.errors import BadValue, LtsError
from lts_sampler.core.kitformat import (
    FORMAT,
    banks_from_manifest,
    describe_source,
    key_map,
    kit_name,
    read_manifest,
    sample_name,
    sfz_text,
)
from lts_sampler.core.pad import Grid, check_corners
from lts_sampler.synthesis.model import ModelBundle, resolve_bundle
from lts_sampler.synthesis.phase import resolve_backend
from lts_sampler.synthesis.render import RenderedSample, render_banks


def make_kit(
    bundle: ModelBundle,
    banks: list[Bank],
    layers: list[Layer],
    settings: RenderSettings,
    target: str | Path,
    *,
    mode: str = "keys",
    grid: Grid | None = None,
    backend: str = "cpu",
    progress: Callable[[int, int, str], None] | None = None,
    sample_progress: Callable[[int, float], None] | None = None,
) -> dict:
    """Render every bank (see :func:`single_bank`, :func:`lts_sampler.synthesis.pitches.pair_by_pitch`)
    and write the kit folder at ``target`` atomically; returns kit.json. ``grid`` (mode
    "grid"): the pad the layers' cells lie on. ``backend``: where phase reconstruction runs,
    "cpu" or "cuda"; ``progress`` and ``sample_progress`` as :func:`render_banks` calls them."""
    target = Path(target)
    manifest = kit_manifest(bundle, banks, layers, settings, target, mode=mode, grid=grid)
    check_writable(target)
    several, n = len(banks) > 1, settings.round_robins
    per_bank = len(layers) * n

    def advance(done: int, total: int, label: str) -> None:
        progress(done, total, f"{label} {banks[(done - 1) // per_bank].pitch}" if several else label)

    rendered = render_banks(bundle, [list(b.sources) for b in banks], layers, settings, backend=backend,
                            progress=progress and advance, sample_progress=sample_progress)
    write_kit(target, manifest, rendered, layers, banks, grid)
    return manifest


REPRODUCED = ("format", "model", "sources", "banks", "layers", "mode", "root", "grid", "settings", "sample_rate")
"""What a kit.json holds that a render reproduces (the regions' loops are found in the audio)."""


def kit_manifest(bundle: ModelBundle, banks: list[Bank], layers: list[Layer], settings: RenderSettings, target: Path,
                 *, mode: str, grid: Grid | None) -> dict:
    """The kit.json a render of these would write, before any audio (no loops in the regions
    yet); BadValue for a mode, grid or set of banks that do not go together."""
    name = kit_name(target)
    several = len(banks) > 1
    if several and mode == "keys":
        raise BadValue("mode", mode, "a kit of several pitches plays in morph or grid mode, not keys")
    if (mode == "grid") != (grid is not None):
        raise BadValue("grid", grid and grid.size, "a grid kit needs a grid size, and only a grid kit takes one")
    if grid is not None:
        check_corners(len(banks[0].sources))
    n = settings.round_robins
    names = [sample_name(i, layer, rr, n, bank.pitch if several else None)
             for bank in banks for i, layer in enumerate(layers) for rr in range(1, n + 1)]
    regions = key_map(layers, n, mode=mode, banks=banks, names=names, grid=grid)
    files = list(dict.fromkeys(s for bank in banks for s in bank.sources))
    return {
        "format": FORMAT,
        "name": name,
        "model": {"name": bundle.name, "path": str(bundle.path.resolve()), "sha256": bundle.info["sha256"]},
        "sources": [describe_source(s) for s in files],
        "banks": [{"pitch": b.pitch, "lokey": b.lokey, "hikey": b.hikey, "sources": [files.index(s) for s in b.sources]}
                  for b in banks],
        "layers": [layer.describe() for layer in layers],
        "mode": mode,
        "root": min(banks, key=lambda b: (abs(b.pitch - 60), b.pitch)).pitch,
        **({"grid": grid.describe()} if grid is not None else {}),
        "settings": dataclasses.asdict(settings),
        "sample_rate": bundle.spec.sample_rate,
        "regions": regions,
        "software": f"lts-sampler {__version__}",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def is_current(target: Path, expected: dict) -> bool:
    """Whether the kit at ``target`` was rendered from what ``expected`` (:func:`kit_manifest`)
    describes: the same model, source files (by hash), excerpts, banks, layers and settings."""
    try:
        found = read_manifest(target)
    except LtsError:
        return False
    expected = json.loads(json.dumps(expected))  # tuples as kit.json holds them: lists
    same_model = found["model"].get("sha256") == expected["model"]["sha256"]
    return same_model and all(found.get(k) == expected.get(k) for k in REPRODUCED if k != "model")


def write_kit(target: Path, manifest: dict, rendered: list[RenderedSample], layers: list[Layer], banks: list[Bank],
              grid: Grid | None) -> None:
    """Samples (named by the manifest's regions, in render order; their loops added to the
    regions), SFZ and kit.json into a hidden folder beside ``target``, then one rename."""
    for region, sample in zip(manifest["regions"], rendered):
        if sample.loop is not None:
            region.update(sample.loop.opcodes())
    try:
        with replacing_dir(target) as tmp:
            (tmp / "samples").mkdir()
            for sample, region in zip(rendered, manifest["regions"]):
                sf.write(tmp / "samples" / region["sample"], sample.audio, manifest["sample_rate"], subtype="PCM_24")
            sfz = sfz_text(manifest["name"], manifest["regions"], layers, mode=manifest["mode"],
                           round_robins=manifest["settings"]["round_robins"], banks=banks, grid=grid)
            write_text(tmp / f"{manifest['name']}.sfz", sfz)
            write_json(tmp / "kit.json", manifest)
    except OSError as err:
        raise BadValue("out", str(target), f"cannot write there ({err.strerror}); choose another output folder") from None


def check_writable(target: Path) -> None:
    """Fail before rendering, not after, when the kit could not be written."""
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise BadValue("out", str(target), f"{parent} is not a writable folder; choose another output folder")
    if target.exists() and not target.is_dir():
        raise BadValue("out", str(target), "a file of that name exists; choose another output folder")
    check_replaceable(target, marker="kit.json", what="kit")


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
        bundle, banks_from_manifest(manifest), [Layer.from_dict(d) for d in manifest["layers"]],
        RenderSettings(**manifest["settings"]), Path(target) if target else kit_dir, mode=manifest["mode"],
        grid=Grid.from_dict(manifest["grid"]) if "grid" in manifest else None, backend=resolve_backend(device),
        progress=progress,
    )
