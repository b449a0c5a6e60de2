"""Pictures as widgets: each draws :mod:`lts_sampler.faces.tui.pictures` at the size it is given."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from lts_sampler.faces.tui import pictures

SOURCE_COLOURS = ("#3b82f6", "#f59e0b", "#10b981", "#a855f7")
"""Sources A, B, C, D wherever they are drawn: in the latent picture, at the pad's corners."""
MIX_COLOUR = "#ef4444"
"""The mix being shown: its latent trajectory, the pad's selected cell."""


class Waveform(Widget):
    """A waveform; the excerpt (offset, duration in seconds; None: to the end) stands out, and
    a kit sample's sustain loop (start, end in seconds) has a colour of its own."""

    DEFAULT_CSS = "Waveform { height: 4; }"

    audio: reactive[tuple[np.ndarray, int] | None] = reactive(None, always_update=True)
    """(samples [n] float32, sample rate in Hz), or None before a file is read."""
    excerpt: reactive[tuple[float, float | None] | None] = reactive(None)
    loop: reactive[tuple[float, float] | None] = reactive(None)
    note: reactive[str] = reactive("")
    """Shown instead of a picture when there is no audio (e.g. why a file cannot be read)."""

    def render(self) -> Text:
        if self.audio is None:
            return Text(self.note, style="dim")
        y, rate = self.audio
        return pictures.waveform(y, sample_rate=rate, width=self.size.width, height=self.size.height,
                                 excerpt=self.excerpt, loop=self.loop)


class Spectrogram(Widget):
    """A log-frequency spectrogram, low notes at the bottom."""

    DEFAULT_CSS = "Spectrogram { height: 6; }"

    audio: reactive[tuple[np.ndarray, int] | None] = reactive(None, always_update=True)

    def render(self) -> Text:
        if self.audio is None:
            return Text("")
        y, rate = self.audio
        return pictures.spectrogram(y, sample_rate=rate, width=self.size.width, height=self.size.height)


class Trajectories(Widget):
    """Latent trajectories projected on their two principal components."""

    DEFAULT_CSS = "Trajectories { height: 8; }"

    curves: reactive[list[tuple[str, np.ndarray, str]]] = reactive(list, always_update=True)
    """(label, points [frames, 2], colour) per trajectory, already projected."""
    note: reactive[str] = reactive("")

    def render(self) -> Text:
        if not self.curves:
            return Text(self.note, style="dim")
        return pictures.trajectory_plot(self.curves, width=self.size.width, height=self.size.height)
