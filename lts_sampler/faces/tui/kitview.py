"""The Kit tab: the selected pair's kit — its samples, their pictures, a grid kit's pad, and a
keyboard to play it from the computer's keys or a MIDI keyboard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Label, Select, Static

from lts_sampler.core.errors import LtsError
from lts_sampler.core.kitformat import SOURCE_LABELS
from lts_sampler.faces.tui.messages import Say
from lts_sampler.faces.tui.pad import Pad
from lts_sampler.faces.tui.plots import MIX_COLOUR, SOURCE_COLOURS, Spectrogram, Trajectories, Waveform

PIANO = "awsedftgyhujk"
"""Computer keys playing C up to the next C, a row of the keyboard as on a piano."""
BLACK = {1, 3, 6, 8, 10}
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
TAP_VELOCITY = 100
COLUMNS = (("sample", 14), ("mix", 8), ("keys", 7), ("s", 5))
GRID_COLUMNS = (("sample", None), ("s", 5))
"""A grid kit's samples: the pad beside them shows each cell's mix, and every cell plays on all keys."""


def morph_cc() -> int:
    """The controller a morph kit's layers cross-fade on (the kit module, loaded with the kit)."""
    from lts_sampler.core.kitformat import MORPH_CC

    return MORPH_CC


def note_name(note: int) -> str:
    return f"{NOTE_NAMES[note % 12]}{note // 12 - 1}"


def describe_keys(region: dict) -> str:
    """The keys a manifest's region plays: ``C4``, ``C2–C6`` or ``all``."""
    if "key" in region:
        return note_name(region["key"])
    if (region["lokey"], region["hikey"]) == (0, 127):
        return "all"
    return f"{note_name(region['lokey'])}–{note_name(region['hikey'])}"


def describe_layer(layer: dict) -> str:
    """α, curve, weights or grid cell of a manifest's layer, short."""
    if "cell" in layer:
        return "g{}-{}".format(*layer["cell"])
    if "alpha" in layer:
        return f"α {layer['alpha']:+.2f}"
    if "curve" in layer:
        return "α " + "→".join(f"{a:g}" for _, a in layer["curve"])
    return "w " + ",".join(f"{w:g}" for w in layer["weights"])


class Piano(Widget):
    """One octave and a C of piano keys, labelled with the computer keys that play them;
    sounding notes lit, notes the kit does not map dimmed."""

    DEFAULT_CSS = "Piano { height: 3; }"
    WHITE = 4

    base: reactive[int] = reactive(60)
    """MIDI note of the first key (a C)."""
    sounding: reactive[frozenset[int]] = reactive(frozenset())
    mapped: reactive[frozenset[int]] = reactive(frozenset())
    wheel: reactive[int] = reactive(0)
    """The mod wheel (CC1), 0–127."""
    on_pad: reactive[bool] = reactive(False)
    """A grid kit: its pad, not the wheel, sets the controllers."""

    def render(self) -> Text:
        rows = [Text(), Text(), Text()]
        whites = [i for i in range(len(PIANO)) if i % 12 not in BLACK]
        for column, i in enumerate(whites):
            rows[1].append(f" {PIANO[i]}  ", style=self._style(i, "reverse"))
            name = note_name(self.base + i) if i % 12 == 0 else ""
            rows[2].append(f" {name:<3}", style="dim")
            black = i + 1
            if black < len(PIANO) and black % 12 in BLACK:
                rows[0].append("  ")
                rows[0].append(f" {PIANO[black]}", style=self._style(black, "bold"))
            else:
                rows[0].append("    ")
        controls = "←↑↓→ on the pad" if self.on_pad else f", . mod wheel {self.wheel}"
        rows[2].append(f"  z/x octave · {controls}", style="dim")
        return Text("\n").join(rows)

    def _style(self, i: int, plain: str) -> str:
        note = self.base + i
        if note in self.sounding:
            return "bold reverse #ef4444"
        return plain if note in self.mapped else f"{plain} dim"


class KitPane(Vertical):
    """The kit at the selected pair's output folder, once rendered."""

    BINDINGS = [
        Binding("a", "tap(0)", "Play", key_display="a…k", tooltip="Play the kit from the computer keys"),
        *(Binding(key, f"tap({i})", show=False) for i, key in enumerate(PIANO) if i),
        Binding("z", "octave(-1)", "Octave down", key_display="z"),
        Binding("x", "octave(1)", "Octave up", key_display="x"),
        Binding("comma", "wheel(-16)", "Mod wheel down", show=False),
        Binding("full_stop", "wheel(16)", "Mod wheel up", show=False),
        Binding("space", "play_sample", "Play sample"),
        Binding("v", "toggle_picture", "Waveform/spectrum"),
    ]

    manifest: dict | None = None
    kit = None  # lts_sampler.playing.sampler.Kit of ``manifest``
    folder: Path | None = None
    _encoded: tuple[tuple[Path, str], dict] | None = None  # (kit folder, date) → {bank pitch: its sources encoded}
    midi_reason: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="kit-title")
        with Horizontal(id="kit-top"):
            yield DataTable(id="samples", cursor_type="row", zebra_stripes=True)
            yield Pad()
            with Vertical(id="kit-pictures"):
                yield Waveform(id="sample-wave")
                yield Spectrogram(id="sample-spectrum")
                yield Trajectories(id="latents")
        yield Piano()
        with Horizontal(id="kit-io"):
            yield Label("MIDI in", classes="unit")
            yield Select([], id="midi-in", prompt="none", compact=True)
            yield Static(id="sound")

    def on_mount(self) -> None:
        self.query_one("#sample-spectrum").display = False
        self.set_interval(1 / 15, self.light_keys)

    def show(self, folder: Path) -> None:
        """Show the kit in ``folder`` (read in a thread), or say that there is none yet."""
        self.folder = folder
        self.load(folder)
        self.refresh_midi_ports()

    @work(thread=True, exclusive=True, group="kit", exit_on_error=False)
    def load(self, folder: Path) -> None:
        from lts_sampler.core.kitformat import read_manifest
        from lts_sampler.playing.sampler import load_kit

        if not (folder / "kit.json").is_file():
            self.app.call_from_thread(self._loaded, folder, None, None)
            return
        try:
            manifest, kit = read_manifest(folder), load_kit(folder)
        except LtsError as err:
            self.post_message(Say(f"kit {folder}: {err}", error=True))
            manifest = kit = None
        import scipy.signal  # noqa: F401 (the spectrogram's first draw would load it on the UI's thread)

        self.app.call_from_thread(self._loaded, folder, manifest, kit)

    def _loaded(self, folder: Path, manifest: dict | None, kit) -> None:
        """Show ``manifest``'s samples (``kit``: the same kit, loaded by the sampler)."""
        self.manifest, self.kit = manifest, kit
        grid = manifest.get("grid") if manifest else None
        self.set_class(grid is not None, "grid")
        table = self.query_one("#samples", DataTable)
        table.clear(columns=True)
        for label, width in GRID_COLUMNS if grid else COLUMNS:
            table.add_column(label, width=width)
        title = self.query_one("#kit-title", Static)
        piano = self.query_one(Piano)
        piano.on_pad = grid is not None
        if self.app.audition is not None:
            self.app.audition.set_kit(kit)
            if grid is None:  # the controllers may still be where another kit's pad left them
                self.app.audition.control_change(morph_cc(), piano.wheel)
        if manifest is None:
            title.update(f"no kit at {folder} yet: ctrl+r renders one")
            self.query_one(Piano).mapped = frozenset()
            for picture in ("#sample-wave", "#sample-spectrum"):
                self.query_one(picture).audio = None
            self.query_one(Trajectories).curves = []
            return
        for region, loaded in zip(manifest["regions"], kit.regions):
            seconds = f"{(len(loaded.audio) - 1) / kit.sample_rate:.2f}"
            mix = [] if grid else [describe_layer(manifest["layers"][region["layer"]]), describe_keys(region)]
            table.add_row(region["sample"], *mix, seconds, key=region["sample"])
        title.update(f"{folder}/{manifest['name']}.sfz · {manifest['mode']} · {len(manifest['regions'])} samples"
                     f" · {manifest['model']['name']}")
        piano.base = manifest["root"] - manifest["root"] % 12
        piano.mapped = frozenset(n for r in kit.regions for n in range(r.lokey, r.hikey + 1))
        if grid:
            self.query_one(Pad).show(manifest)
            if table.has_focus:  # the pad takes the arrows
                self.query_one(Pad).focus()
        self.select_sample(0)

    @on(DataTable.RowHighlighted)
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.select_sample(event.cursor_row)

    @on(DataTable.RowSelected)
    def selected(self, event: DataTable.RowSelected) -> None:
        self.action_play_sample()

    def select_sample(self, row: int) -> None:
        """Show sample ``row``: its pictures; in a grid kit its cell on the pad, where the
        audition's two controllers go too, so the keys play that cell."""
        if self.manifest is None or not 0 <= row < len(self.manifest["regions"]):
            return
        loaded = self.kit.regions[row]
        audio = (loaded.audio[:-1], self.kit.sample_rate)  # the sampler's copy, less its end zero
        wave = self.query_one("#sample-wave", Waveform)
        wave.loop = None if loaded.loop is None else (loaded.loop[0] / audio[1], (loaded.loop[1] + 1) / audio[1])
        for picture in ("#sample-wave", "#sample-spectrum"):
            self.query_one(picture).audio = audio
        region = self.manifest["regions"][row]
        if "grid" in self.manifest:
            self.move_pad(tuple(self.manifest["layers"][region["layer"]]["cell"]))
        self.project(self.folder, self.manifest, region)

    def move_pad(self, cell: tuple[int, int]) -> None:
        """Select ``cell`` on the pad and set the audition's two controllers to it."""
        pad = self.query_one(Pad)
        pad.cell = cell
        if self.app.audition is not None:
            for control, value in pad.controllers():
                self.app.audition.control_change(control, value)

    @on(Pad.Moved)
    def pad_moved(self, event: Pad.Moved) -> None:
        """The table's cursor follows the pad (same pitch and round robin), and the cell plays."""
        if self.manifest is None or "grid" not in self.manifest:  # a kit loaded since
            return
        table = self.query_one("#samples", DataTable)
        regions, layers = self.manifest["regions"], self.manifest["layers"]
        now = regions[table.cursor_row]
        row = next(r for r, region in enumerate(regions) if tuple(layers[region["layer"]]["cell"]) == event.cell
                   and region.get("pitch_keycenter") == now.get("pitch_keycenter")
                   and region["round_robin"] == now["round_robin"])
        table.move_cursor(row=row)
        self.play(row)

    @work(thread=True, exclusive=True, group="latents", exit_on_error=False)
    def project(self, folder: Path, manifest: dict, region: dict) -> None:
        """Encode the sources of ``region``'s bank with the kit's model (once per kit and bank)
        and plot their trajectories and the region's mix."""
        from lts_sampler.core.banks import Layer
        from lts_sampler.core.kitformat import banks_from_manifest
        from lts_sampler.faces.tui.pictures import project_2d
        from lts_sampler.synthesis.render import encode_sources, mixed_latents

        plot = self.query_one(Trajectories)
        key, pitch = (folder, manifest.get("date", "")), region.get("pitch_keycenter")  # keys mode: one bank
        if self._encoded is None or self._encoded[0] != key:
            self._encoded = key, {}
        if pitch not in self._encoded[1]:
            try:
                banks = banks_from_manifest(manifest)
                bank = next((b for b in banks if b.pitch == pitch), banks[0])
                bundle = self.app.bundle(Path(manifest["model"]["path"]))
                self._encoded[1][pitch] = encode_sources(bundle, list(bank.sources))
            except LtsError as err:
                self.app.call_from_thread(setattr, plot, "note", f"no latent picture: {err}")
                return
        encoded = self._encoded[1][pitch]
        layer = manifest["layers"][region["layer"]]
        mixed = mixed_latents(encoded, Layer.from_dict(layer))
        points = project_2d([e.mu for e in encoded] + [mixed])
        labels = [*SOURCE_LABELS[: len(encoded)], describe_layer(layer)]
        colours = [*SOURCE_COLOURS[: len(encoded)], MIX_COLOUR]
        self.app.call_from_thread(setattr, plot, "curves", list(zip(labels, points, colours)))

    def light_keys(self) -> None:
        audition = self.app.audition
        if audition is not None and self.is_on_screen:
            sounding = frozenset(audition.sounding())
            piano = self.query_one(Piano)
            if sounding != piano.sounding:
                piano.sounding = sounding

    def action_tap(self, offset: int) -> None:
        if self.app.audition is not None:
            self.app.audition.tap(self.query_one(Piano).base + offset, TAP_VELOCITY)

    def action_octave(self, step: int) -> None:
        piano = self.query_one(Piano)
        piano.base = int(np.clip(piano.base + 12 * step, 0, 108))

    def check_action(self, action: str, parameters: tuple) -> bool:
        """On a grid kit the pad moves the controllers, not the mod wheel keys."""
        return not (action == "wheel" and self.manifest is not None and "grid" in self.manifest)

    def action_wheel(self, step: int) -> None:
        piano = self.query_one(Piano)
        piano.wheel = int(np.clip(piano.wheel + step, 0, 127))
        if self.app.audition is not None:
            self.app.audition.control_change(morph_cc(), piano.wheel)

    def action_play_sample(self) -> None:
        self.play(self.query_one("#samples", DataTable).cursor_row)

    def play(self, row: int) -> None:
        """Play sample ``row`` once, as rendered."""
        if self.manifest is None or self.app.audition is None or not 0 <= row < len(self.kit.regions):
            return
        self.app.audition.preview(self.kit.regions[row].audio[:-1], self.kit.sample_rate)
        self.post_message(Say(f"playing {self.manifest['regions'][row]['sample']}"))

    def action_toggle_picture(self) -> None:
        wave, spectrum = self.query_one("#sample-wave"), self.query_one("#sample-spectrum")
        wave.display, spectrum.display = not wave.display, wave.display

    @work(thread=True, exclusive=True, group="midi-ports", exit_on_error=False)
    def refresh_midi_ports(self) -> None:
        audition = self.app.audition
        if audition is None:
            return
        ports, reason = audition.midi_inputs() if self.app.sound else ([], "turned off (--no-sound)")
        self.app.call_from_thread(self._ports, ports, reason)

    def _ports(self, ports: list[str], reason: str | None) -> None:
        select = self.query_one("#midi-in", Select)
        with select.prevent(Select.Changed):
            select.set_options([(p, p) for p in ports])
            if self.app.audition.listening in ports:
                select.value = self.app.audition.listening
        self.midi_reason = None if ports else reason or "no MIDI input ports; connect a keyboard"
        self.show_sound()

    @on(Select.Changed, "#midi-in")
    def listen(self, event: Select.Changed) -> None:
        port = None if event.value is Select.BLANK else str(event.value)
        try:
            self.app.audition.listen(port)
        except LtsError as err:
            self.post_message(Say(str(err), error=True))
        else:
            self.post_message(Say(f"MIDI in: {port}" if port else "MIDI in: none"))

    def show_sound(self) -> None:
        """Where the sound goes and where MIDI comes from, or why there is none."""
        reason, warn = self.app.silent_reason, "bold $warning"
        lines = [(f"no sound: {reason}", warn) if reason else f"sound: {self.app.audition.device}"]
        if self.midi_reason:
            lines += ["\n", (f"no MIDI: {self.midi_reason}", warn)]
        self.query_one("#sound", Static).update(Content.assemble(*lines))
