"""``lts-sampler tui``: the terminal UI — a library of source pairs, their bank settings, and
rendering with progress and cancel.

The session (:mod:`lts_sampler.session`) is saved on every keystroke. Rendering runs in a
worker thread; cancelling stops it before anything is written, so the previous kit stays
as it was. Mistakes in a form are shown under it and never end the app.
"""

from __future__ import annotations

import threading
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Header, Input, Label, ListItem, ListView, Log, ProgressBar, Static

from lts_sampler.errors import LtsError
from lts_sampler.session import Pair, Session

FIELDS = (
    ("name", "Name"),
    ("source_a", "Source A (audio file)"),
    ("source_b", "Source B (audio file)"),
    ("offsets", "Excerpt offsets, s (one, or A,B)"),
    ("durations", "Excerpt durations, s (empty: to the end)"),
    ("alphas", "α values (list or start:stop:step)"),
    ("mode", "Mode: keys or morph"),
    ("root", "Root note (60 or C4)"),
    ("quality", "Quality: draft, normal or high"),
    ("round_robins", "Round robins"),
    ("out", "Output folder (empty: kits/NAME)"),
)


class Cancelled(Exception):
    """Raised inside the render's progress callback when the user cancels."""


def render_job(pair: Pair) -> dict:
    """The render a pair asks for, checked: sources, layers, settings, output folder, mode,
    root; LtsError (one line) for the first thing that is wrong."""
    from lts_sampler.cli_render import per_source, root_note
    from lts_sampler.morph import parse_alphas
    from lts_sampler.phase import QUALITY_ITERATIONS
    from lts_sampler.render import Layer, RenderSettings, Source

    paths = [Path(p).expanduser() for p in (pair.source_a, pair.source_b)]
    for label, path in zip("AB", paths):
        if not str(path) or str(path) == ".":
            raise LtsError(f"choose source {label}: the path of an audio file")
        if not path.is_file():
            raise LtsError(f"source {label} {path} does not exist; check the path")
    offsets = per_source(pair.offsets or "0", 2, "offsets")
    durations = per_source(pair.durations or None, 2, "durations")
    if pair.mode not in ("keys", "morph"):
        raise LtsError(f"mode {pair.mode!r}: give keys or morph")
    if pair.quality not in QUALITY_ITERATIONS:
        raise LtsError(f"quality {pair.quality!r}: give draft, normal or high")
    try:
        round_robins = int(pair.round_robins)
    except ValueError:
        raise LtsError(f"round robins {pair.round_robins!r}: give a whole number, 1 or more") from None
    if round_robins < 1:
        raise LtsError("round robins must be 1 or more")
    return {
        "sources": [Source(p, o or 0.0, d) for p, o, d in zip(paths, offsets, durations)],
        "layers": [Layer(alpha=a) for a in parse_alphas(pair.alphas)],
        "settings": RenderSettings(n_iter=QUALITY_ITERATIONS[pair.quality], round_robins=round_robins),
        "out": Path(pair.out or f"kits/{pair.name}").expanduser(),
        "mode": pair.mode,
        "root": root_note(pair.root),
    }


class LtsApp(App):
    """Pairs on the left, the selected pair's settings on the right, render log below."""

    TITLE = "lts-sampler"
    CSS = """
    #pairs { width: 28; border: round $primary; }
    #form { padding: 0 1; }
    #form Label { margin-top: 1; color: $text-muted; }
    #message { color: $error; margin-top: 1; }
    #progress { margin-top: 1; }
    #log { height: 6; border: round $secondary; }
    """
    BINDINGS = [
        Binding("ctrl+n", "new_pair", "New pair"),
        Binding("ctrl+d", "duplicate_pair", "Duplicate"),
        Binding("ctrl+x", "delete_pair", "Delete"),
        Binding("ctrl+r", "render", "Render"),
        Binding("escape", "cancel", "Cancel render", priority=True),
        Binding("ctrl+q", "quit", "Quit"),
    ]

    def __init__(self, session_path: str | Path):
        super().__init__()
        self.session = Session.open(session_path)
        self._cancel = threading.Event()
        self._bundle = None

    @property
    def pair(self) -> Pair | None:
        index = self.query_one("#pairs", ListView).index
        return self.session.pairs[index] if index is not None and index < len(self.session.pairs) else None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield ListView(id="pairs")
            with VerticalScroll(id="form"):
                for field, label in FIELDS:
                    yield Label(label)
                    yield Input(id=field)
                yield Static(id="message")
                yield ProgressBar(id="progress", show_eta=False)
        yield Log(id="log")
        yield Footer()

    def on_mount(self) -> None:
        if not self.session.pairs:
            self.session.add(Pair("first pair"))
        self._refresh_pairs(0)

    def _refresh_pairs(self, index: int) -> None:
        pairs = self.query_one("#pairs", ListView)
        pairs.clear()
        pairs.extend(ListItem(Label(p.name)) for p in self.session.pairs)
        pairs.index = min(index, len(self.session.pairs) - 1)
        self._show(self.pair)

    def _show(self, pair: Pair | None) -> None:
        for field, _ in FIELDS:
            box = self.query_one(f"#{field}", Input)
            with box.prevent(Input.Changed):
                box.value = getattr(pair, field) if pair else ""

    def on_list_view_highlighted(self, event: ListView.Highlighted) -> None:
        self._show(self.pair)

    def on_input_changed(self, event: Input.Changed) -> None:
        pair = self.pair
        if pair is None or event.input.id is None:
            return
        setattr(pair, event.input.id, event.value)
        self.session.save()
        if event.input.id == "name":
            item = self.query_one("#pairs", ListView).highlighted_child
            if item is not None:
                item.query_one(Label).update(event.value)

    def action_new_pair(self) -> None:
        self.session.add(Pair("new pair"))
        self._refresh_pairs(len(self.session.pairs) - 1)
        self.query_one("#name", Input).focus()

    def action_duplicate_pair(self) -> None:
        if self.pair is not None:
            self.session.duplicate(self.pair)
            self._refresh_pairs(len(self.session.pairs) - 1)

    def action_delete_pair(self) -> None:
        if self.pair is not None and len(self.session.pairs) > 1:
            index = self.query_one("#pairs", ListView).index or 0
            self.session.delete(self.pair)
            self._refresh_pairs(max(0, index - 1))

    def action_render(self) -> None:
        message = self.query_one("#message", Static)
        try:
            job = render_job(self.pair)
        except LtsError as err:
            message.update(str(err))
            return
        message.update("")
        self._cancel.clear()
        self.query_one("#progress", ProgressBar).update(total=len(job["layers"]) * job["settings"].round_robins, progress=0)
        self.query_one("#log", Log).write_line(f"rendering {self.pair.name} into {job['out']} …")
        self._render(job)

    def action_cancel(self) -> None:
        self._cancel.set()

    @work(thread=True, exclusive=True)
    def _render(self, job: dict) -> None:
        from lts_sampler.kit import make_kit
        from lts_sampler.model import ModelBundle, resolve_bundle

        log = self.query_one("#log", Log)

        def progress(done: int, total: int, label: str) -> None:
            if self._cancel.is_set():
                raise Cancelled
            self.call_from_thread(self.query_one("#progress", ProgressBar).update, progress=done)
            self.call_from_thread(log.write_line, f"  {done}/{total} {label}")

        try:
            if self._bundle is None:
                self._bundle = ModelBundle.load(resolve_bundle(None), device="cpu")
            make_kit(self._bundle, job["sources"], job["layers"], job["settings"], job["out"],
                     mode=job["mode"], root=job["root"], progress=progress)
        except Cancelled:
            self.call_from_thread(log.write_line, "cancelled: the previous kit is as it was")
        except LtsError as err:
            self.call_from_thread(self.query_one("#message", Static).update, str(err))
        else:
            self.call_from_thread(log.write_line, f"wrote {job['out']}")


def tui_command(args) -> int:
    """``lts-sampler tui [SESSION]``."""
    LtsApp(args.session).run()
    return 0
