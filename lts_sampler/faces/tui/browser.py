"""A file browser that shows folders and audio files only, and what each file holds."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Label, Static

from lts_sampler.synthesis.audio import AUDIO_SUFFIXES


class AudioTree(DirectoryTree):
    """Folders and the audio files libsndfile reads; hidden entries left out."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith(".")
                and (p.is_dir() or p.suffix.lower() in AUDIO_SUFFIXES)]


class AudioBrowser(ModalScreen[Path | None]):
    """Choose an audio file under ``start``: enter picks it, escape closes."""

    DEFAULT_CSS = """
    AudioBrowser { align: center middle; }
    AudioBrowser > Vertical { width: 90%; height: 85%; border: round $primary; background: $surface; }
    AudioBrowser AudioTree { height: 1fr; }
    AudioBrowser #info { height: 1; color: $text-muted; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close"), Binding("backspace", "up", "Parent folder")]

    def __init__(self, start: Path, title: str):
        super().__init__()
        self.start, self.title_text = start, title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"{self.title_text} — enter picks a file, backspace goes up, escape closes")
            yield AudioTree(self.start)
            yield Static(id="info")

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        self.dismiss(event.path)

    def on_tree_node_highlighted(self, event: AudioTree.NodeHighlighted) -> None:
        path = event.node.data.path if event.node.data else None
        self.query_one("#info", Static).update(describe_file(path) if path and path.is_file() else "")

    def action_up(self) -> None:
        tree = self.query_one(AudioTree)
        tree.path = Path(tree.path).resolve().parent


def describe_file(path: Path) -> str:
    """``2.35 s · 44100 Hz · 2 channels · FLAC`` or why the file cannot be read."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        return f"cannot read: {err}"
    channels = "mono" if info.channels == 1 else f"{info.channels} channels"
    return f"{info.duration:.2f} s · {info.samplerate} Hz · {channels} · {info.format}"
