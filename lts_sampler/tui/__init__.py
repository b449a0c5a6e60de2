"""``lts-sampler tui``: the terminal UI (Textual) — pairs of sources, their banks, the kits
rendered from them, and a keyboard to play those kits."""

from lts_sampler.tui.app import LtsApp, tui_command

__all__ = ["LtsApp", "tui_command"]
