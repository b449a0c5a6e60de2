"""A bank's ingredients (DESIGN §5, §6): source excerpts, the layers that mix them, how
samples are made, and the banks of a kit of several pitches. Plain values: kit.json records
them, the planner makes them, the renderer reads them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from lts_sampler.core.mixing import curve_at, two_source_weights

QUALITY_ITERATIONS = {"draft": 8, "normal": 32, "high": 128}
"""Most Griffin–Lim iterations of each ``--quality`` preset (fewer when they stop helping)."""

@dataclasses.dataclass(frozen=True)
class Source:
    """An excerpt of an audio file: ``offset`` and ``duration`` in seconds (None: to the end)."""

    path: Path
    offset: float = 0.0
    duration: float | None = None


@dataclasses.dataclass(frozen=True)
class Layer:
    """One mix to render: a constant α (two sources), an α curve (two sources), or a
    constant weight vector (any number of sources; on a grid, ``cell`` (i, j) names it)."""

    alpha: float | None = None
    curve: tuple[tuple[float, float], ...] | None = None
    weights: tuple[float, ...] | None = None
    cell: tuple[int, int] | None = None

    @property
    def label(self) -> str:
        """File-name-safe: ``a+0.25``, ``curve``, ``w0.50-0.25-0.25``, ``g2-3``."""
        if self.cell is not None:
            return "g{}-{}".format(*self.cell)
        if self.alpha is not None:
            return f"a{self.alpha:+.2f}"
        if self.curve is not None:
            return "curve"
        return "w" + "-".join(f"{w:.2f}".replace("-", "m") for w in self.weights)

    def weights_at(self, n_frames: int) -> np.ndarray:
        """Source weights: [S] when constant, [n_frames, S] along a curve."""
        if self.alpha is not None:
            return two_source_weights(self.alpha)
        if self.curve is not None:
            return two_source_weights(curve_at(list(self.curve), n_frames))
        return np.asarray(self.weights, dtype=np.float32)

    def describe(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> Layer:
        curve, weights, cell = data.get("curve"), data.get("weights"), data.get("cell")
        return cls(
            alpha=data.get("alpha"),
            curve=tuple(tuple(p) for p in curve) if curve is not None else None,
            weights=tuple(weights) if weights is not None else None,
            cell=tuple(cell) if cell is not None else None,
        )


@dataclasses.dataclass(frozen=True)
class RenderSettings:
    """How samples are made: phase reconstruction (fast Griffin–Lim iterations started from
    the dominant source's own phase), post-processing, round robins, seed, and whether the
    samples get a sustain loop (:mod:`lts_sampler.synthesis.loops`; False in a kit.json from
    before loops, which then renders again without them)."""

    n_iter: int = QUALITY_ITERATIONS["normal"]
    normalize: bool = True
    trim: bool = False
    round_robins: int = 1
    seed: int = 0
    loop: bool = False


@dataclasses.dataclass(frozen=True)
class Bank:
    """What one pitch mixes: an excerpt per source, played on keys ``lokey``…``hikey`` around
    ``pitch`` (the MIDI note the excerpts sound at: the kit's ``pitch_keycenter``)."""

    pitch: int
    sources: tuple[Source, ...]
    lokey: int = 0
    hikey: int = 127
