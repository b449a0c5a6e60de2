"""The timbre pad (DESIGN §6, grid): four sources at the corners of a square, N × N cells.

Corner A sits at (0, 0), B at (1, 0), C at (0, 1), D at (1, 1). Cell (i, j) lies at
x = lo + i·(hi − lo)/(N − 1), y likewise, and mixes the corners with bilinear weights
(1 − x)(1 − y), x(1 − y), (1 − x)y, xy: they always sum to 1, and a range beyond [0, 1]
extrapolates past the corners (negative weights, DESIGN §5).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lts_sampler.core.banks import Layer
from lts_sampler.core.errors import BadValue

SIZES = range(2, 18)
"""Cells a side: 2 (the corners only) to 17 (289 layers)."""
ENGINE_CCS = frozenset({64, 120, 121, 123})
"""Controllers the sampler engine reads as sustain and channel modes: never a pad axis."""


@dataclasses.dataclass(frozen=True)
class Grid:
    """An N × N pad: ``size`` N, the corner range ``lo``…``hi`` (0…1: the corners are the
    sources themselves), and the controllers that move it, ``cc_x`` and ``cc_y``."""

    size: int = 5
    lo: float = 0.0
    hi: float = 1.0
    cc_x: int = 1
    cc_y: int = 2

    def __post_init__(self):
        if self.size not in SIZES:
            raise BadValue("grid", self.size, f"give {SIZES[0]} to {SIZES[-1]} cells a side (5 makes 25 layers)")
        if not (np.isfinite(self.lo) and np.isfinite(self.hi) and self.lo < self.hi):
            raise BadValue("grid_range", f"{self.lo:g}:{self.hi:g}", "give LOW:HIGH with LOW < HIGH, e.g. -0.25:1.25")
        for axis, cc in (("cc_x", self.cc_x), ("cc_y", self.cc_y)):
            if not 0 <= cc <= 127 or cc in ENGINE_CCS:
                raise BadValue(axis, cc, "give a controller 0–127 other than 64, 120, 121 and 123")
        if self.cc_x == self.cc_y:
            raise BadValue("cc_y", self.cc_y, "the pad needs two controllers: give one other than the X controller's")

    def position(self, index: int) -> float:
        """Where cell column (or row) ``index`` lies on its axis, in corner units."""
        return self.lo + index * (self.hi - self.lo) / (self.size - 1)

    def cells(self) -> list[tuple[int, int]]:
        """Every cell (i, j), row by row: j (Y) outer, i (X) inner; layer k is cell (k mod N, k div N)."""
        return [(i, j) for j in range(self.size) for i in range(self.size)]

    def weights(self, i: int, j: int) -> tuple[float, float, float, float]:
        """Bilinear weights of corners A, B, C, D at cell (i, j); they sum to 1."""
        x, y = self.position(i), self.position(j)
        return tuple(round(float(w), 10) for w in ((1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y))

    def controller_value(self, index: int) -> int:
        """The controller value (0–127) where column (or row) ``index`` sounds alone."""
        return crossfade_points(self.size)[index]

    def nearest_cell(self, x: int, y: int) -> tuple[int, int]:
        """The cell (i, j) nearest to the controller values ``x`` (``cc_x``) and ``y`` (``cc_y``)."""
        return round(x * (self.size - 1) / 127), round(y * (self.size - 1) / 127)

    def layers(self) -> list[Layer]:
        """A layer per cell, in :meth:`cells` order, mixing the corners with its weights."""
        return [Layer(weights=self.weights(i, j), cell=(i, j)) for i, j in self.cells()]

    def describe(self) -> dict:
        """kit.json's ``grid`` record: the pad and every cell's position and weights."""
        return {
            "size": self.size, "range": [self.lo, self.hi], "cc_x": self.cc_x, "cc_y": self.cc_y,
            "corners": {"A": [0, 0], "B": [1, 0], "C": [0, 1], "D": [1, 1]},
            "cells": [{"cell": [i, j], "position": [round(self.position(i), 10), round(self.position(j), 10)],
                       "weights": list(self.weights(i, j))} for i, j in self.cells()],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Grid:
        lo, hi = data["range"]
        return cls(size=data["size"], lo=lo, hi=hi, cc_x=data["cc_x"], cc_y=data["cc_y"])


def crossfade_points(steps: int) -> list[int]:
    """Controller values where each of ``steps`` layers (or a pad's columns) sounds alone:
    0 … 127, evenly spread."""
    if steps == 1:
        return [0]
    return [round(i * 127 / (steps - 1)) for i in range(steps)]


def check_corners(n_sources: int) -> None:
    """LtsError unless there are four sources, one for each corner."""
    if n_sources != 4:
        raise BadValue("sources", None, f"a grid has four corners: give four sources A B C D, not {n_sources} "
                       "(mix three or five by weights)")


def parse_range(text: str) -> tuple[float, float]:
    """``"-0.25:1.25"`` → (−0.25, 1.25)."""
    try:
        lo, hi = (float(part) for part in text.split(":"))
    except ValueError:
        raise BadValue("grid_range", text, "write LOW:HIGH, e.g. 0:1 or -0.25:1.25") from None
    return lo, hi
