"""A pair as typed → the render request that ``render``'s flags also make (:mod:`lts_sampler.kits.plan`),
and the plan's errors in the form's words."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lts_sampler.core.banks import Source
from lts_sampler.core.errors import FIELD_WORDS, BadValue, LtsError
from lts_sampler.core.kitformat import SOURCE_LABELS
from lts_sampler.faces.tui.session import Pair
from lts_sampler.kits import plan as planner
from lts_sampler.kits.plan import Checked, Plan, RenderRequest, SourceRequest


def render_request(pair: Pair) -> RenderRequest:
    """What ``pair`` asks to render: a grid's settings only in grid mode, α values or a curve
    for two sources, weights for more."""
    grid = pair.mode == "grid"
    weighted = len(pair.sources) > 2 and not grid
    curve = pair.curve.strip() if not (grid or weighted) else ""
    return RenderRequest(
        sources=tuple(SourceRequest(s.path, s.offset, s.duration) for s in pair.sources),
        mode=pair.mode,
        alphas=pair.alphas if not (grid or weighted or curve) else None,
        curve=curve or None,
        weights=pair.weights if weighted and pair.weights.strip() else None,
        grid=pair.grid if grid else None,
        grid_range=pair.grid_range, cc_x=pair.cc_x, cc_y=pair.cc_y, root=pair.root, quality=pair.quality,
        normalize=pair.normalize, trim=pair.trim, round_robins=pair.round_robins, seed=pair.seed,
        model=pair.model.strip() or None, out=pair.out, name=pair.name,
    )


def check(pair: Pair) -> Checked:
    """``pair``'s render checked without reading audio; LtsError (one line, the form's words)."""
    return _worded(lambda: planner.check(render_request(pair)))


def plan(pair: Pair, *, report: Callable[[str], None]) -> Plan:
    """``pair``'s render planned: note sets read and paired by pitch (estimates ``report``-ed)."""
    return _worded(lambda: planner.plan(render_request(pair), report=report))


def excerpt(pair: Pair, index: int) -> Source:
    """Source ``index`` of ``pair``, a file to listen to; LtsError for a set of notes."""
    wanted = pair.sources[index]
    found = _worded(lambda: planner.source(index, SourceRequest(wanted.path, wanted.offset, wanted.duration)))
    if not isinstance(found, Source):
        raise LtsError(f"source {SOURCE_LABELS[index]} is a set of notes; listen to one of its files")
    return found


def output_folder(pair: Pair) -> Path:
    """Where ``pair``'s kit goes, whether or not the rest of it is good."""
    return planner.output_folder(render_request(pair))


def message(err: LtsError) -> str:
    """``err`` in the form's words: a value named by its field's label."""
    if not isinstance(err, BadValue):
        return str(err)
    if err.source is None:
        name = FIELD_WORDS.get(err.field, err.field)
    elif err.field == "sources":
        name = f"source {SOURCE_LABELS[err.source]}"
    else:
        name = f"source {SOURCE_LABELS[err.source]} {err.field}"
    return err.worded(name)


def _worded(step):
    try:
        return step()
    except BadValue as err:
        raise LtsError(message(err)) from None
