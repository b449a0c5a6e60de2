"""The app: a library of pairs on the left; the selected pair's sources, bank settings and kit
in tabs; the render's progress and a log below.

The session (:mod:`lts_sampler.faces.tui.session`) is saved on every edit. Rendering runs in a worker
thread; cancelling stops it before anything is written, so the previous kit stays as it was.
Mistakes in a form are shown under the tabs and never end the app.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Footer, Header, Label, ListItem, ListView, Log, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from lts_sampler.core.errors import LtsError
from lts_sampler.core.native import native_output_to
from lts_sampler.faces.tui.bank import BankPane
from lts_sampler.faces.tui.commands import LtsCommands
from lts_sampler.faces.tui.help import HelpScreen
from lts_sampler.faces.tui.kitview import KitPane
from lts_sampler.faces.tui.messages import PairEdited, Say
from lts_sampler.faces.tui.progress import RenderProgress
from lts_sampler.faces.tui.session import Excerpt, Pair, Session
from lts_sampler.faces.tui.sources import SourcesPane

PROGRESS_SHOWN_S = 3.0
"""How long the render's bars stay once it has ended."""


class Cancelled(Exception):
    """Raised inside the render's progress callbacks when the user cancels."""


class PairList(ListView):
    """The session's pairs; the selected one fills the tabs."""

    BINDINGS = [
        Binding("d", "app.duplicate_pair", "Duplicate pair", show=False),
        Binding("delete,x", "app.delete_pair", "Delete pair", show=False),
        Binding("r", "app.rename_pair", "Rename pair", show=False),
    ]


class LtsApp(App):
    """lts-sampler's terminal UI for the session saved at ``session_path``."""

    TITLE = "lts-sampler"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {LtsCommands}
    BINDINGS = [
        Binding("f1", "help", "Help", id="help"),
        Binding("ctrl+r", "render", "Render", id="render"),
        Binding("escape", "cancel", "Cancel", id="cancel"),
        Binding("ctrl+n", "new_pair", "New pair", id="new-pair"),
        Binding("f2", "show_tab('sources')", "Sources", show=False),
        Binding("f3", "show_tab('bank')", "Bank", show=False),
        Binding("f4", "show_tab('kit')", "Kit", show=False),
        Binding("ctrl+q", "quit", "Quit", id="quit"),
    ]

    def __init__(self, session_path: str | Path, *, sound: bool = True):
        super().__init__()
        self.sound = sound
        self.session = Session.open(session_path)
        self.sub_title = str(session_path)
        self.audition = None  # lts_sampler.playing.audition.Audition, once opened (in a thread)
        self.rendering = False
        self._cancel = threading.Event()
        self._bundles: dict[Path, object] = {}
        self._bundle_lock = threading.Lock()
        self._fractions = np.zeros(0)
        self._done = 0
        self._progress_timer: Timer | None = None

    @property
    def pair(self) -> Pair | None:
        index = self.query_one(PairList).index
        return self.session.pairs[index] if index is not None and index < len(self.session.pairs) else None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            yield PairList(id="pairs")
            with Vertical(id="work"):
                with TabbedContent(id="tabs"):
                    with TabPane("Sources", id="sources"):
                        yield SourcesPane()
                    with TabPane("Bank", id="bank"):
                        yield BankPane()
                    with TabPane("Kit", id="kit"):
                        yield KitPane()
                yield Static(id="message")
        yield RenderProgress(id="render-progress")
        yield Log(id="log")
        yield Footer()

    def on_mount(self) -> None:
        if not self.session.pairs:
            self.session.add(demo_pair("demo pair"))
        if self.session.theme in self.available_themes:
            self.theme = self.session.theme
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.query_one("#render-progress").display = False
        self._refresh_pairs(0)
        self.open_audition()

    @work(thread=True, group="audition", exit_on_error=False)
    def open_audition(self) -> None:
        """Open the audio output (slow: PortAudio probes every device) off the UI thread."""
        from lts_sampler.playing.audition import Audition

        audition = self.audition or Audition()
        if self.sound:
            audition.open()
        self.call_from_thread(self._audition_ready, audition)

    def action_open_sound(self) -> None:
        self.sound = True
        self.open_audition()

    def _audition_ready(self, audition) -> None:
        self.audition = audition
        self.query_one(KitPane).show_sound()
        self.say(f"no sound: {self.silent_reason}" if self.silent_reason else f"sound: {audition.device}")
        if self.query_one(TabbedContent).active == "kit":
            self.query_one(KitPane).show(self.kit_folder(self.pair))

    @property
    def silent_reason(self) -> str | None:
        """Why nothing sounds, or None when the audio output plays."""
        if not self.sound:
            return "turned off (--no-sound)"
        return "starting…" if self.audition is None else self.audition.silent_reason

    def _theme_changed(self, theme) -> None:
        self.session.theme = theme.name
        self.session.save()

    def on_unmount(self) -> None:
        if self.audition is not None:
            self.audition.close()

    def bundle(self, path: Path):
        """The model bundle at ``path``, loaded once (any thread)."""
        from lts_sampler.synthesis.model import ModelBundle

        with self._bundle_lock:
            key = path.resolve()
            if key not in self._bundles:
                self._bundles[key] = ModelBundle.load(path, device="cpu")
            return self._bundles[key]

    # --- pairs ----------------------------------------------------------------------------

    def _refresh_pairs(self, index: int) -> None:
        pairs = self.query_one(PairList)
        pairs.clear()
        pairs.extend(ListItem(Label(p.name)) for p in self.session.pairs)
        pairs.index = min(index, len(self.session.pairs) - 1)
        self._show(self.pair)

    def _show(self, pair: Pair | None) -> None:
        if pair is None:
            return
        self.query_one(SourcesPane).show(pair)
        self.query_one(BankPane).show(pair)
        if self.query_one(TabbedContent).active == "kit":
            self.query_one(KitPane).show(self.kit_folder(pair))
        self.check(pair)

    @on(ListView.Highlighted, "#pairs")
    def pair_highlighted(self) -> None:
        self._show(self.pair)

    @on(PairEdited)
    def pair_edited(self) -> None:
        pair = self.pair
        self.session.save()
        item = self.query_one(PairList).highlighted_child
        if item is not None and pair is not None:
            item.query_one(Label).update(pair.name)
            self.query_one(BankPane).show(pair)
            self.check(pair)

    def check(self, pair: Pair):
        """Say under the tabs what keeps ``pair`` from rendering, or where it would render;
        whether it may render."""
        from lts_sampler.faces.tui.job import check

        try:
            checked = check(pair)
        except LtsError as err:
            self.show_message(str(err))
            return False
        each = " for each pitch of the note sets" if checked.root is None else ""
        self.show_message(f"ready: {checked.samples_per_bank} samples{each} into {checked.out} — ctrl+r renders",
                          ready=True)
        return True

    def show_message(self, text: str, *, ready: bool = False) -> None:
        """The line under the tabs: a problem (warning colour), or that all is ready."""
        message = self.query_one("#message", Static)
        message.set_class(ready, "ready")
        message.update(text)

    def action_new_pair(self) -> None:
        self.session.add(Pair("new pair"))
        self._refresh_pairs(len(self.session.pairs) - 1)
        self.action_show_tab("sources")

    def action_duplicate_pair(self) -> None:
        if self.pair is not None:
            self.session.duplicate(self.pair)
            self._refresh_pairs(len(self.session.pairs) - 1)

    def action_rename_pair(self) -> None:
        self.action_show_tab("sources")
        self.query_one("#name").focus()

    def action_delete_pair(self) -> None:
        if self.pair is not None and len(self.session.pairs) > 1:
            index = self.query_one(PairList).index or 0
            self.say(f"deleted pair {self.pair.name} (its kit stays on disk)")
            self.session.delete(self.pair)
            self._refresh_pairs(max(0, index - 1))

    def action_demo_pair(self) -> None:
        if self.pair is not None:
            self.pair.sources = demo_pair(self.pair.name).sources
            self.session.save()
            self._show(self.pair)

    # --- tabs and sources -----------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        """Show ``tab`` and focus its first field."""
        self.query_one(TabbedContent).active = tab
        if tab == "bank":
            self.query_one(BankPane).first_field().focus()
        else:
            self.query_one({"sources": "#source-0-path", "kit": "#samples"}[tab]).focus()

    @on(TabbedContent.TabActivated)
    def tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "kit" and self.pair is not None:
            self.query_one(KitPane).show(self.kit_folder(self.pair))

    def kit_folder(self, pair: Pair) -> Path:
        from lts_sampler.faces.tui.job import output_folder

        return output_folder(pair)

    def action_add_source(self) -> None:
        self.action_show_tab("sources")
        self.query_one(SourcesPane).add_source()

    def action_browse(self) -> None:
        self.action_show_tab("sources")
        self.query_one(SourcesPane).action_browse()

    def action_listen(self) -> None:
        self.query_one(SourcesPane).action_listen()

    def action_stop_sound(self) -> None:
        if self.audition is not None:
            self.audition.stop()

    def action_help(self) -> None:
        keys = [(b.key_display or b.key, b.description) for _, b, enabled, _ in self.screen.active_bindings.values()
                if b.description]
        self.push_screen(HelpScreen(keys))

    # --- log and messages -----------------------------------------------------------------

    @on(Worker.StateChanged)
    def worker_changed(self, event: Worker.StateChanged) -> None:
        """A worker's unforeseen error is shown, and the app carries on."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.post_message(Say(f"unexpected error in {event.worker.name}: {type(error).__name__}: {error}",
                                  error=True))
            if event.worker.group == "render":
                self._rendered("not rendered")

    @on(Say)
    def said(self, event: Say) -> None:
        self.say(event.text)
        if event.error:
            self.show_message(event.text)

    def say(self, text: str) -> None:
        self.query_one(Log).write_line(text)

    # --- rendering ------------------------------------------------------------------------

    def action_render(self) -> None:
        if self.pair is None:
            return
        if self.rendering:
            self.say("a render is running: wait for it, or escape cancels it")
            return
        if not self.check(self.pair):
            return
        self.show_message("")
        self._cancel.clear()
        self._fractions, self._done = np.zeros(0), 0
        self.rendering = True
        self._render(self.pair)

    def _start_progress(self, name: str, job) -> None:
        """Show a bar for each sample of ``job`` (a Plan), labelled as the kit names it."""
        rr_suffix = "_rr{}" if job.settings.round_robins > 1 else ""
        pitch_suffix = " {}" if len(job.banks) > 1 else ""
        labels = [layer.label + pitch_suffix.format(bank.pitch) + rr_suffix.format(rr) for bank in job.banks
                  for layer in job.layers for rr in range(1, job.settings.round_robins + 1)]
        self._fractions = np.zeros(len(labels))
        progress = self.query_one(RenderProgress)
        progress.display = True
        progress.start(f"{name} → {job.out}", labels)
        self.say(f"rendering {name} into {job.out}: {job.samples} samples, {job.settings.n_iter} phase iterations")
        self._progress_timer = self.set_interval(0.1, self._show_progress)

    def _show_progress(self) -> None:
        self.query_one(RenderProgress).show(list(self._fractions), self._done)

    def action_cancel(self) -> None:
        if self.rendering:
            self._cancel.set()

    @work(thread=True, exclusive=True, group="render", exit_on_error=False)
    def _render(self, pair: Pair) -> None:
        from lts_sampler.core.kitformat import describe_loops
        from lts_sampler.faces.tui.job import message, plan
        from lts_sampler.kits.make import make_kit

        def progress(done: int, total: int, label: str) -> None:
            if self._cancel.is_set():
                raise Cancelled
            self._done = done

        def sample_progress(index: int, fraction: float) -> None:
            if self._cancel.is_set():
                raise Cancelled
            self._fractions[index] = fraction

        started = time.monotonic()
        try:
            job = plan(pair, report=lambda line: self.post_message(Say(line)))
            self.call_from_thread(self._start_progress, pair.name, job)
            bundle = self.bundle(job.model)
            manifest = make_kit(bundle, job.banks, job.layers, job.settings, job.out,
                                mode=job.mode, grid=job.grid, progress=progress, sample_progress=sample_progress)
        except Cancelled:
            self.call_from_thread(self._rendered, "cancelled: the kit already there is as it was")
        except LtsError as err:
            self.call_from_thread(self._rendered, f"not rendered: {message(err)}", error=message(err))
        else:
            seconds = time.monotonic() - started
            loops = describe_loops(manifest)
            self.call_from_thread(self._rendered, f"wrote {job.out}/{manifest['name']}.sfz: "
                                  f"{len(manifest['regions'])} samples in {seconds:.1f} s" + (f"; {loops}" if loops else ""),
                                  folder=job.out)

    def _rendered(self, text: str, *, error: str | None = None, folder: Path | None = None) -> None:
        self.rendering = False
        if self._progress_timer is not None:  # None: the plan failed before a sample began
            self._progress_timer.stop()
            self._progress_timer = None
            self._show_progress()
        self.say(text)
        if error is not None:
            self.show_message(error)
        if folder is not None:
            self.action_show_tab("kit")
            self.query_one(KitPane).show(folder)
        self.set_timer(PROGRESS_SHOWN_S, self._hide_progress)

    def _hide_progress(self) -> None:
        if not self.rendering:
            self.query_one(RenderProgress).display = False


def demo_pair(name: str) -> Pair:
    """A pair of the two bundled demo sounds, as ``render --demo`` plays them."""
    from lts_sampler.kits.plan import DEMO_SECONDS, demo_sources

    return Pair(name, [Excerpt(path, "0", str(DEMO_SECONDS)) for path in demo_sources()])


def tui_command(args) -> int:
    """``lts-sampler tui [SESSION]``."""
    app = LtsApp(args.session, sound=not args.no_sound)
    with native_output_to(Path(tempfile.gettempdir()) / f"lts-sampler-tui-{os.getuid()}.log"):
        app.run()
    return 0
