"""The Bank tab: how the selected pair's bank is mixed, mapped and rendered."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.widgets import Checkbox, Input, Label, Select

from lts_sampler.faces.tui.messages import PairEdited
from lts_sampler.faces.tui.session import Pair

TEXT_FIELDS = (
    ("alphas", "α values", "list 0,0.5,1 or range -0.5:1.5:0.25"),
    ("curve", "α curve", "empty: off · time:α, e.g. 0:0,1:1"),
    ("weights", "weights", "3+ sources: 1,0,0;0.5,0.25,0.25"),
    ("grid", "grid size", "cells a side, 2–17"),
    ("grid_range", "grid range", "LOW:HIGH; -0.25:1.25 extrapolates"),
    ("cc_x", "pad X controller", "CC moving A→B, default 1"),
    ("cc_y", "pad Y controller", "CC moving A→C, default 2"),
    ("root", "root note", "60 or C4"),
    ("round_robins", "round robins", "1 to 16"),
    ("seed", "seed", "phase and round robins, 0 or more"),
    ("out", "output folder", "empty: kits/NAME"),
)
CHOICES = (
    ("mode", "mode", (("keys: a sample per key", "keys"), ("morph: mod wheel morphs", "morph"),
                      ("grid: 4 sources on a pad", "grid"))),
    ("quality", "phase quality", (("draft", "draft"), ("normal", "normal"), ("high", "high"))),
)


def model_choices() -> list[tuple[str, str]]:
    """(label, value) of the model bundles ``lts-sampler models`` lists; "" is the default."""
    from lts_sampler.synthesis.model import default_bundle_path, find_bundles

    default = default_bundle_path().resolve()
    return [(f"{p.name} (default)" if p.resolve() == default else p.name, "" if p.resolve() == default else str(p))
            for p in find_bundles()] or [("default", "")]


class BankPane(VerticalScroll):
    """The bank settings of the selected pair; edits go straight into it."""

    pair: Pair | None = None

    def __init__(self):
        super().__init__()
        self.models = model_choices()
        self.values = {field: [v for _, v in options] for field, _, options in CHOICES}
        self.values["model"] = [v for _, v in self.models]

    def compose(self) -> ComposeResult:
        with Grid(id="bank-grid"):
            for field, label, hint in TEXT_FIELDS:
                yield Label(label, id=f"{field}-label")
                yield Input(id=field, placeholder=hint, compact=True)
            for field, label, options in CHOICES:
                yield Label(label)
                yield Select(options, id=field, allow_blank=False, compact=True)
            yield Label("model")
            yield Select(self.models, id="model", allow_blank=False, compact=True)
            yield Label("normalise")
            yield Checkbox("peaks to −1 dBFS", value=True, id="normalize", compact=True)
            yield Label("trim")
            yield Checkbox("cut trailing silence", value=False, id="trim", compact=True)

    def show(self, pair: Pair) -> None:
        """Fill the form from ``pair``."""
        self.pair = pair
        for field, _, _ in TEXT_FIELDS:
            box = self.query_one(f"#{field}", Input)
            with box.prevent(Input.Changed):
                box.value = getattr(pair, field)
        for field in ("mode", "quality", "model"):
            select = self.query_one(f"#{field}", Select)
            if getattr(pair, field) in self.values[field]:
                with select.prevent(Select.Changed):
                    select.value = getattr(pair, field)
        for field in ("normalize", "trim"):
            box = self.query_one(f"#{field}", Checkbox)
            with box.prevent(Checkbox.Changed):
                box.value = getattr(pair, field)
        grid = pair.mode == "grid"
        weighted = len(pair.sources) > 2 and not grid
        shown = {"weights": weighted, "grid": grid, "grid_range": grid, "cc_x": grid, "cc_y": grid,
                 "alphas": not (weighted or grid), "curve": not (weighted or grid)}
        for field, display in shown.items():
            self.query_one(f"#{field}").display = self.query_one(f"#{field}-label").display = display

    def first_field(self) -> Input:
        """The first field shown: the α values, the weights or the grid size."""
        return next(box for box in self.query(Input) if box.display)

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def edited(self, event: Input.Changed | Select.Changed | Checkbox.Changed) -> None:
        widget = event.control
        if self.pair is None or widget.id is None:
            return
        event.stop()
        setattr(self.pair, widget.id, widget.value)
        self.post_message(PairEdited())
