"""The pad of a grid kit (DESIGN §6, grid): its N × N cells drawn as a square, Y up as on the
pad (A lower left, B lower right, C upper left, D upper right), each cell in the mix of its
corners' colours and the selected one red; the source names at the corners; under it the
selected cell's name, position, weights and controller values."""

from __future__ import annotations

from pathlib import Path

from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from lts_sampler.core.pad import Grid
from lts_sampler.faces.tui.plots import MIX_COLOUR, SOURCE_COLOURS

CORNERS = "ABCD"
TEXT_ROWS = 5
"""Rows around the square: the corner names above and below it, three lines about the cell."""


def blend(weights: list[float]) -> str:
    """The corners' colours mixed by ``weights`` (negative ones, past a corner, count as 0)."""
    clipped = [max(w, 0.0) for w in weights]
    rgb = [sum(w * Color.parse(c).triplet[k] for w, c in zip(clipped, SOURCE_COLOURS)) / sum(clipped)
           for k in range(3)]
    return "#{:02x}{:02x}{:02x}".format(*(round(v) for v in rgb))


def shorten(text: str, room: int) -> str:
    """``text``, or its start and "…" in ``room`` characters (at least one)."""
    return text if len(text) <= room else text[: max(room, 1) - 1] + "…"


class Pad(Widget, can_focus=True):
    """A grid kit's pad; arrow keys move the selected cell, a click selects one, and either
    posts :class:`Pad.Moved`. A cell is k columns wide and k half-rows high (``▀``), k as
    large as the widget allows, so the square looks square."""

    DEFAULT_CSS = """
    Pad { width: 32; height: 1fr; padding: 0 1; }
    Pad:focus { background: $boost; }
    """
    BINDINGS = [
        Binding("up", "move(0, 1)", "Move on the pad", key_display="←↑↓→", tooltip="Select and play a cell"),
        Binding("down", "move(0, -1)", show=False),
        Binding("left", "move(-1, 0)", show=False),
        Binding("right", "move(1, 0)", show=False),
    ]

    cell: reactive[tuple[int, int]] = reactive((0, 0))
    """The selected cell (i, j): column i from A towards B, row j from A towards C."""

    class Moved(Message):
        """The user selected ``cell`` (a click on the selected cell selects it again)."""

        def __init__(self, cell: tuple[int, int]):
            super().__init__()
            self.cell = cell

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.grid: Grid | None = None
        self.names: list[str] = []
        self._colours: dict[tuple[int, int], str] = {}

    def show(self, manifest: dict) -> None:
        """Draw the pad of a grid kit's kit.json, its first bank's sources at the corners."""
        self.grid = Grid.from_dict(manifest["grid"])
        banks = manifest.get("banks") or [{"sources": range(len(manifest["sources"]))}]
        self.names = [Path(manifest["sources"][i]["path"]).stem for i in banks[0]["sources"]]
        self._colours = {cell: blend(self.grid.weights(*cell)) for cell in self.grid.cells()}
        self.refresh()

    def controllers(self) -> list[tuple[int, int]]:
        """(controller, value) of the X and Y axes where the selected cell sounds alone."""
        grid, (i, j) = self.grid, self.cell
        return [(grid.cc_x, grid.controller_value(i)), (grid.cc_y, grid.controller_value(j))]

    def action_move(self, di: int, dj: int) -> None:
        if self.grid is None:
            return
        last = self.grid.size - 1
        i, j = self.cell
        cell = (min(max(i + di, 0), last), min(max(j + dj, 0), last))
        if cell != self.cell:
            self.select(cell)

    def select(self, cell: tuple[int, int]) -> None:
        self.cell = cell
        self.post_message(self.Moved(cell))

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        cell = None if offset is None else self.cell_at(offset.x, offset.y)
        if cell is not None:
            self.select(cell)

    # --- geometry: the square's scale k and where it lies ---------------------------------------

    def _square(self) -> tuple[int, int]:
        """(k, the square's first column) at the widget's size."""
        size, (width, height) = self.grid.size, self.content_size
        k = max(1, min(width // size, 2 * (height - TEXT_ROWS) // size))
        return k, max(0, (width - size * k) // 2)

    def cell_at(self, x: int, y: int) -> tuple[int, int] | None:
        """The cell drawn at content column ``x``, row ``y``, or None. Where one row of the
        terminal holds two rows of cells (k = 1), the upper one, or the lower one if the upper
        is selected already: a second click there reaches it."""
        if self.grid is None:
            return None
        size = self.grid.size
        k, left = self._square()
        half = 2 * (y - 1)  # the upper half-row of terminal row y, counted from the square's top
        if not (0 <= x - left < size * k and 0 <= half < size * k):
            return None
        i = (x - left) // k
        upper, lower = half // k, min(half + 1, size * k - 1) // k
        j = size - 1 - upper
        if (i, j) == self.cell and lower != upper:
            j = size - 1 - lower
        return i, j

    # --- drawing -------------------------------------------------------------------------------

    def render(self) -> Text:
        if self.grid is None:
            return Text("")
        size, width = self.grid.size, self.content_size.width
        k, left = self._square()
        lines = [self._corner_names(2, 3, width)]
        for top in range(0, size * k, 2):  # two half-rows of the square per line of text
            line = Text(" " * left)
            for x in range(size * k):
                lower = self._colour(x // k, top + 1, k) if top + 1 < size * k else None
                line.append("▀", Style(color=self._colour(x // k, top, k), bgcolor=lower))
            lines.append(line)
        lines.append(self._corner_names(0, 1, width))
        return Text("\n").join(lines + self._about_cell())

    def _colour(self, i: int, half: int, k: int) -> str:
        cell = (i, self.grid.size - 1 - half // k)
        return MIX_COLOUR if cell == self.cell else self._colours[cell]

    def _corner_names(self, left: int, right: int, width: int) -> Text:
        """Corner ``left``'s letter and name, and corner ``right``'s name and letter, ``width`` apart."""
        room = width - 5  # less the letters, their spaces and one between the names
        first_name = shorten(self.names[left], max(room - len(self.names[right]), room // 2))
        names = [first_name, shorten(self.names[right], room - len(first_name))]
        first = Text.assemble((CORNERS[left], f"bold {SOURCE_COLOURS[left]}"), " ", names[0])
        last = Text.assemble(names[1], " ", (CORNERS[right], f"bold {SOURCE_COLOURS[right]}"))
        return Text.assemble(first, " " * max(1, width - len(first) - len(last)), last)

    def _about_cell(self) -> list[Text]:
        """The selected cell's name and position, its weights, and its controller values."""
        i, j = self.cell
        x, y = self.grid.position(i), self.grid.position(j)
        weights = Text(" ").join(Text.assemble((letter, f"bold {colour}"), f" {w:.2f}")
                                 for letter, colour, w in zip(CORNERS, SOURCE_COLOURS, self.grid.weights(i, j)))
        name = Text("g{}-{}".format(*self.cell), style="bold")
        ccs = "  ".join(f"CC{control} {value}" for control, value in self.controllers())
        return [name + f"  x {x:.2f} y {y:.2f}", weights, Text(ccs, style="dim")]
