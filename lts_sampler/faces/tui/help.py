"""The help screen: what to do first, and every key."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

GUIDE = """\
# lts-sampler

A **pair** is two sounds (or more) and how to mix them into a **kit**: samples whose timbre
moves from A (α 0) to B (α 1) and past them (α < 0, α > 1), mapped to keys in an SFZ
instrument any DAW sampler loads.

1. **Sources** tab: give each source an audio file (type a path, or **ctrl+o** to browse),
   and the excerpt to use: offset and duration in seconds. **ctrl+l** listens to it.
2. **Bank** tab: the α values (a list `0,0.5,1` or a range `-0.5:1.5:0.25`), or an α curve
   (`time:α` points, `0:0,1:1`: one sample that moves), the mode (*keys*: one sample a key;
   *morph*: the mod wheel morphs; *grid*: four sources on the corners of a pad of N × N
   cells, moved by CC1 and CC2), root note, round robins, quality, model, output folder.
   The line under the tabs says what is missing, or that the pair is ready.
3. **ctrl+r** renders the kit (escape cancels; the kit already there stays as it was).
4. **Kit** tab: the samples with their α and keys; space plays one; the keys **a w s e d f t
   g y h u j k** play the kit as a piano octave (**z**/**x**: octave down/up, **,**/**.**: mod
   wheel), or choose a MIDI keyboard under *MIDI in*. A grid kit shows its pad: the arrow
   keys or a click select a cell, play it, and set the pad's two controllers there, so the
   keys then play that cell.

Everything is saved as you type, in the session file.
"""


class HelpScreen(ModalScreen[None]):
    """The guide, and the keys of the app and of the tab that was showing."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; height: 90%; border: round $primary; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def __init__(self, keys: list[tuple[str, str]]):
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        rows = "\n".join(f"| `{key}` | {what} |" for key, what in self.keys)
        with VerticalScroll():
            yield Markdown(f"{GUIDE}\n## Keys\n\n| key | does |\n|---|---|\n{rows}\n\n"
                           "ctrl+p opens the command palette (every action, and the theme). Escape closes this.")
