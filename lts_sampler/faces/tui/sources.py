"""The Sources tab: the pair's name, and each source's file and excerpt over its waveform."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label

from lts_sampler.core.errors import LtsError
from lts_sampler.core.kitformat import SOURCE_LABELS
from lts_sampler.faces.tui.browser import AudioBrowser
from lts_sampler.faces.tui.job import excerpt
from lts_sampler.faces.tui.messages import PairEdited, Say
from lts_sampler.faces.tui.plots import Waveform
from lts_sampler.faces.tui.session import Excerpt, Pair

PICTURE_RATE = 4000
"""Hz at which files are read for their waveform."""
PICTURE_SECONDS = 600.0
"""A waveform shows at most this much of a file."""


@functools.lru_cache(maxsize=32)
def picture_audio(path: str, mtime: float) -> tuple[np.ndarray, int]:
    """The first ``PICTURE_SECONDS`` of a file, mono at ``PICTURE_RATE``; LtsError if unreadable."""
    from lts_sampler.synthesis.audio import load_audio

    return load_audio(path, sample_rate=PICTURE_RATE, duration=PICTURE_SECONDS), PICTURE_RATE


def seconds(text: str) -> float | None:
    """A number of seconds as typed, or None when it is empty or not one."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value >= 0 else None


class SourceEditor(Vertical):
    """Source ``index``: its path, excerpt offset and duration (filled from ``excerpt`` as it is
    made, so nothing typed meanwhile is overwritten), and its waveform."""

    def __init__(self, index: int, excerpt: Excerpt):
        super().__init__(classes="source")
        self.index, self._excerpt = index, excerpt
        self._read: tuple[str, float] | None = None  # the file (path, mtime) whose waveform is shown or being read

    def compose(self) -> ComposeResult:
        i, excerpt = self.index, self._excerpt
        with Horizontal(classes="row"):
            yield Label(SOURCE_LABELS[i], classes="letter")
            yield Input(excerpt.path, id=f"source-{i}-path", placeholder="path of an audio file (ctrl+o browses)",
                        compact=True)
        with Horizontal(classes="row"):
            yield Label("offset s", classes="unit")
            yield Input(excerpt.offset, id=f"source-{i}-offset", classes="number", compact=True)
            yield Label("duration s", classes="unit")
            yield Input(excerpt.duration, id=f"source-{i}-duration", classes="number", placeholder="to the end",
                        compact=True)
            if i >= 2:
                yield Button("remove", id=f"source-{i}-remove", compact=True)
        yield Waveform(id=f"source-{i}-wave")

    def on_mount(self) -> None:
        self.draw(self._excerpt)

    def show(self, excerpt: Excerpt) -> None:
        for field in ("path", "offset", "duration"):
            box = self.query_one(f"#source-{self.index}-{field}", Input)
            with box.prevent(Input.Changed):
                box.value = getattr(excerpt, field)
        self.draw(excerpt)

    def draw(self, excerpt: Excerpt) -> None:
        """Read the file's waveform (in a thread) and mark the excerpt on it."""
        wave = self.query_one(Waveform)
        offset, duration = seconds(excerpt.offset or "0"), seconds(excerpt.duration) if excerpt.duration else None
        wave.excerpt = (offset or 0.0, duration)
        path = Path(excerpt.path.strip()).expanduser()
        if not path.is_file():
            self._read = None
            wave.audio, wave.note = None, "no file yet" if not excerpt.path.strip() else f"{path} does not exist"
            return
        if self._read != (read := (str(path), path.stat().st_mtime)):  # an excerpt moved: the same picture
            self._read = read
            self.read_waveform(*read)

    @work(thread=True, exclusive=True, group="waveform", exit_on_error=False)
    def read_waveform(self, path: str, mtime: float) -> None:
        wave = self.query_one(Waveform)
        try:
            audio = picture_audio(path, mtime)
        except LtsError as err:
            self.app.call_from_thread(setattr, wave, "note", str(err))
            self.app.call_from_thread(setattr, wave, "audio", None)
        else:
            self.app.call_from_thread(setattr, wave, "audio", audio)


class SourcesPane(VerticalScroll):
    """Name and sources of the selected pair; edits go straight into it."""

    BINDINGS = [
        Binding("ctrl+o", "browse", "Browse", tooltip="Choose the focused source's file"),
        Binding("ctrl+l", "listen", "Listen", tooltip="Play the focused source's excerpt"),
    ]

    pair: Pair | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label("Name", classes="unit")
            yield Input(id="name", compact=True)
        yield Vertical(id="source-list")
        yield Button("add a source (weighted mix of 3 or more)", id="add-source", compact=True)

    def show(self, pair: Pair) -> None:
        """Fill the forms from ``pair``."""
        self.pair = pair
        name = self.query_one("#name", Input)
        with name.prevent(Input.Changed):
            name.value = pair.name
        editors = list(self.query(SourceEditor))
        if len(editors) != len(pair.sources):
            listing = self.query_one("#source-list", Vertical)
            listing.remove_children()
            listing.mount_all(SourceEditor(i, excerpt) for i, excerpt in enumerate(pair.sources))
        else:
            for editor, excerpt in zip(editors, pair.sources):
                editor.show(excerpt)

    def focused_source(self) -> int:
        """The index of the source holding the focus (0 when none does)."""
        node = self.screen.focused
        while node is not None and not isinstance(node, SourceEditor):
            node = node.parent
        return node.index if node is not None else 0

    @on(Input.Changed)
    def edited(self, event: Input.Changed) -> None:
        if self.pair is None or event.input.id is None:
            return
        event.stop()
        if event.input.id == "name":
            self.pair.name = event.value
        else:
            _, index, field = event.input.id.split("-")
            excerpt = self.pair.sources[int(index)]
            setattr(excerpt, field, event.value)
            self.query(SourceEditor)[int(index)].draw(excerpt)
        self.post_message(PairEdited())

    @on(Button.Pressed, "#add-source")
    def add_source(self) -> None:
        if self.pair is not None and len(self.pair.sources) < len(SOURCE_LABELS):
            self.pair.sources.append(Excerpt())
            self.show(self.pair)
            self.post_message(PairEdited())

    @on(Button.Pressed, ".source Button")
    def remove_source(self, event: Button.Pressed) -> None:
        index = int(event.button.id.split("-")[1])
        del self.pair.sources[index]
        self.show(self.pair)
        self.post_message(PairEdited())

    def action_browse(self) -> None:
        if self.pair is None:
            return
        index = self.focused_source()
        current = Path(self.pair.sources[index].path.strip()).expanduser()
        start = current.parent if current.parent.is_dir() and str(current) != "." else Path.cwd()

        def chosen(path: Path | None) -> None:
            if path is not None:
                box = self.query_one(f"#source-{index}-path", Input)
                box.value = str(path)
                box.focus()

        self.app.push_screen(AudioBrowser(start, f"Source {SOURCE_LABELS[index]}"), chosen)

    def action_listen(self) -> None:
        if self.pair is None:
            return
        index = self.focused_source()
        try:
            source = excerpt(self.pair, index)
        except LtsError as err:
            self.post_message(Say(str(err), error=True))
            return
        self.preview(source)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def preview(self, source) -> None:
        from lts_sampler.synthesis.audio import load_audio

        audition = self.app.audition
        try:
            y = load_audio(source.path, sample_rate=44100, offset=source.offset, duration=source.duration)
        except LtsError as err:
            self.post_message(Say(str(err), error=True))
            return
        audition.preview(y, 44100)
        where = "" if self.app.silent_reason is None else f" (silently: {self.app.silent_reason})"
        self.post_message(Say(f"playing {source.path.name} from {source.offset:g} s, {len(y) / 44100:.2f} s{where}"))
