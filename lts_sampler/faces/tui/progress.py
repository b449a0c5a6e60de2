"""The render's progress: the bank as a whole, and every sample's phase reconstruction."""

from __future__ import annotations

from rich.progress_bar import ProgressBar as Bar
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar, Static

ROWS = 3
"""Rows of per-sample bars at most; further samples are counted, not drawn."""
CELL = 24
"""Terminal columns per sample: label and bar."""


class RenderProgress(Vertical):
    """An overall bar (samples finished) over one small bar per sample (its iterations)."""

    DEFAULT_CSS = """
    RenderProgress { height: auto; padding: 0 1; }
    RenderProgress #render-row { height: 1; }
    RenderProgress #render-what { width: auto; max-width: 50%; padding-right: 1; }
    RenderProgress #render-samples { height: auto; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal(id="render-row"):
            yield Static(id="render-what")
            yield ProgressBar(id="render-overall", show_eta=False)
        yield Static(id="render-samples")

    def start(self, what: str, labels: list[str]) -> None:
        """Show a render of samples called ``labels`` beginning."""
        self.labels = labels
        self.query_one("#render-what", Static).update(what)
        self.query_one("#render-overall", ProgressBar).update(total=len(labels), progress=0)
        self.show([0.0] * len(labels), 0)

    def show(self, fractions: list[float], done: int) -> None:
        """Each sample's fraction (0–1) of its reconstruction, and how many are finished."""
        self.query_one("#render-overall", ProgressBar).update(progress=done)
        columns = max(1, (self.size.width or 100) // CELL)
        grid = Table.grid(padding=(0, 1))
        for _ in range(columns):
            grid.add_column(width=7, no_wrap=True)
            grid.add_column(width=CELL - 9)
        cells = [(Text(label[:7], style="dim" if f == 0 else ""), Bar(total=1.0, completed=f))
                 for label, f in zip(self.labels, fractions)]
        shown = cells[: columns * ROWS]
        for row in range(0, len(shown), columns):
            grid.add_row(*[part for cell in shown[row : row + columns] for part in cell])
        if len(cells) > len(shown):
            grid.add_row(Text(f"+{len(cells) - len(shown)}", style="dim"))
        self.query_one("#render-samples", Static).update(grid)
