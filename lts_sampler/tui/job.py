"""What a pair asks to render, checked: the bridge between a pair as typed and ``make_kit``."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from lts_sampler.cli_render import per_source, root_note
from lts_sampler.errors import LtsError
from lts_sampler.grid import SIZES, Grid
from lts_sampler.kit import MODES, check_writable
from lts_sampler.model import resolve_bundle
from lts_sampler.morph import parse_alphas, parse_curve, parse_weights
from lts_sampler.phase import QUALITY_ITERATIONS
from lts_sampler.render import Layer, RenderSettings, Source
from lts_sampler.session import Pair

SOURCE_LABELS = "ABCDEFGH"


@dataclasses.dataclass(frozen=True)
class RenderJob:
    """A bank to render: everything ``make_kit`` takes, and the model bundle's folder."""

    sources: list[Source]
    layers: list[Layer]
    settings: RenderSettings
    out: Path
    mode: str
    root: int
    model: Path
    grid: Grid | None = None

    @property
    def samples(self) -> int:
        return len(self.layers) * self.settings.round_robins


def render_job(pair: Pair) -> RenderJob:
    """The render ``pair`` asks for; LtsError (one line) for the first thing that is wrong."""
    sources = [excerpt_source(pair, i) for i in range(len(pair.sources))]
    if len(sources) < 2:
        raise LtsError("a mix needs two sources or more: add one")
    if pair.mode not in MODES:
        raise LtsError(f"mode {pair.mode!r}: give {', '.join(MODES)}")
    grid = pair_grid(pair, len(sources)) if pair.mode == "grid" else None
    if grid is not None:
        layers = grid.layers()
    elif len(sources) > 2:
        if not pair.weights.strip():
            raise LtsError(f"{len(sources)} sources mix by weights: give one vector per sample, e.g. "
                           + ";".join(",".join("1" if i == j else "0" for i in range(len(sources))) for j in range(2)))
        layers = [Layer(weights=tuple(w)) for w in parse_weights(pair.weights, len(sources))]
    elif pair.curve.strip():
        layers = [Layer(curve=tuple(parse_curve(pair.curve)))]
    else:
        layers = [Layer(alpha=a) for a in parse_alphas(pair.alphas)]
    if pair.quality not in QUALITY_ITERATIONS:
        raise LtsError(f"quality {pair.quality!r}: give draft, normal or high")
    try:
        round_robins = int(pair.round_robins)
    except ValueError:
        raise LtsError(f"round robins {pair.round_robins!r}: give a whole number, 1 or more") from None
    if not 1 <= round_robins <= 16:
        raise LtsError(f"round robins {round_robins}: give 1 to 16")
    root = root_note(pair.root.strip())
    if not 0 <= root <= 127:
        raise LtsError(f"root note {root} is outside MIDI notes 0–127")
    out = output_folder(pair)
    check_writable(out)
    settings = RenderSettings(n_iter=QUALITY_ITERATIONS[pair.quality], normalize=pair.normalize,
                              round_robins=round_robins)
    model = resolve_bundle(pair.model.strip() or None)
    return RenderJob(sources, layers, settings, out, pair.mode, root, model, grid)


def pair_grid(pair: Pair, n_sources: int) -> Grid:
    """The grid ``pair`` asks for: four sources, its size 2–17 (the range 0–1, CC1 and CC2)."""
    if n_sources != 4:
        raise LtsError(f"a grid has four corners: give four sources A B C D, not {n_sources} "
                       "(add them on the Sources tab)")
    try:
        size = int(pair.grid)
    except ValueError:
        raise LtsError(f"grid size {pair.grid!r}: give a whole number of cells a side, "
                       f"{SIZES[0]} to {SIZES[-1]}") from None
    if size not in SIZES:
        raise LtsError(f"grid size {size}: give {SIZES[0]} to {SIZES[-1]} cells a side (5 makes 25 samples)")
    return Grid(size)


def output_folder(pair: Pair) -> Path:
    """Where ``pair``'s kit goes: its output folder, or ``kits/`` and its name made file-safe."""
    if pair.out.strip():
        return Path(pair.out.strip()).expanduser()
    return Path("kits") / (re.sub(r"[^\w.-]+", "-", pair.name).strip("-.") or "kit")


def excerpt_source(pair: Pair, index: int) -> Source:
    """Source ``index`` of ``pair``, its path and excerpt checked."""
    excerpt, label = pair.sources[index], SOURCE_LABELS[index]
    path = Path(excerpt.path.strip()).expanduser()
    if not excerpt.path.strip():
        raise LtsError(f"choose source {label}: the path of an audio file (ctrl+o browses)")
    if not path.is_file():
        raise LtsError(f"source {label} {path} does not exist; check the path")
    offset, = per_source(excerpt.offset.strip() or "0", 1, f"source {label} offset")
    duration, = per_source(excerpt.duration.strip() or None, 1, f"source {label} duration")
    return Source(path, offset, duration)
