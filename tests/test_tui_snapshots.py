"""The terminal UI's main screens at 100×30, compared with their saved SVG snapshots
(``pytest --snapshot-update`` saves them anew after a deliberate change of the UI).

Everything shown is made reproducible: relative paths in a fresh folder, no sound device."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import DirectoryTree

from lts_sampler.core.banks import Layer, RenderSettings, Source
from lts_sampler.core.kitformat import single_bank
from lts_sampler.core.pad import Grid
from lts_sampler.faces.tui.app import LtsApp
from lts_sampler.faces.tui.session import Excerpt, Pair, Session
from lts_sampler.kits.make import make_kit
from lts_sampler.synthesis.model import ModelBundle, default_bundle_path

DEMO = Path(__file__).resolve().parent.parent / "lts_sampler" / "demo"
SIZE = (100, 30)


PAIR = ("bass_thick_c.flac", "ambi_choir.flac")


@pytest.fixture(scope="module")
def bass_choir(tmp_path_factory) -> Path:
    """The pair's kit, rendered once for the module from copies of its sounds beside it."""
    folder = tmp_path_factory.mktemp("studio")
    for name in PAIR:
        shutil.copy(DEMO / name, folder / name)
    bundle = ModelBundle.load(default_bundle_path(), device="cpu")
    sources = [Source(folder / PAIR[0], 0.0, 1.5), Source(folder / PAIR[1], 0.2, 1.5)]
    make_kit(bundle, single_bank(sources, 60), [Layer(alpha=a) for a in (0, 0.25, 0.5, 0.75, 1)], RenderSettings(n_iter=8),
             folder / "bass-choir")
    return folder / "bass-choir"


@pytest.fixture
def studio(tmp_path, monkeypatch, bass_choir) -> Path:
    """A folder with the demo sounds, a session of one pair, and that pair's kit."""
    monkeypatch.chdir(tmp_path)
    for name in PAIR:
        shutil.copy(DEMO / name, tmp_path / name)
    Session(tmp_path / "session.json", [Pair("bass to choir", [Excerpt(PAIR[0], "0", "1.5"), Excerpt(PAIR[1], "0.2", "1.5")],
                                          alphas="0:1:0.25", out="kits/bass-choir")]).save()
    shutil.copytree(bass_choir, tmp_path / "kits" / "bass-choir")
    return tmp_path


@pytest.fixture
def pad_studio(tmp_path, monkeypatch) -> Path:
    """A folder with the four demo sounds, a session of one grid pair, and its 3 × 3 kit."""
    monkeypatch.chdir(tmp_path)
    names = ("bass_thick_c.flac", "ambi_choir.flac", "guit_harmonics.flac", "elec_chime.flac")
    for name in names:
        shutil.copy(DEMO / name, tmp_path / name)
    Session(tmp_path / "session.json", [Pair("four corners", [Excerpt(name, "0", "0.5") for name in names],
                                          mode="grid", grid="3", out="kits/pad")]).save()
    bundle = ModelBundle.load(default_bundle_path(), device="cpu")
    grid = Grid(3)
    sources = [Source(Path(name), 0.0, 0.5) for name in names]
    make_kit(bundle, single_bank(sources, 60), grid.layers(), RenderSettings(n_iter=8), tmp_path / "kits" / "pad",
             mode="grid", grid=grid)
    return tmp_path


def app() -> LtsApp:
    return LtsApp("session.json", sound=False)


async def settle(pilot) -> None:
    """Let every worker (waveforms, kit loading, latent pictures) finish and the screen redraw."""
    for _ in range(3):
        ours = [w for w in pilot.app.workers if not isinstance(w.node, DirectoryTree)]  # its loader never ends
        if ours:  # (none: wait_for_complete would wait for every worker)
            await pilot.app.workers.wait_for_complete(ours)
        await pilot.pause()


def test_sources_tab(studio, snap_compare):
    assert snap_compare(app(), terminal_size=SIZE, run_before=settle)


def test_bank_tab(studio, snap_compare):
    assert snap_compare(app(), terminal_size=SIZE, press=["f3", "end"], run_before=settle)  # end: no selection


def test_kit_tab(studio, snap_compare):
    async def open_kit(pilot) -> None:
        await pilot.press("f4")
        await settle(pilot)
        await pilot.press("down", "down")
        await settle(pilot)

    assert snap_compare(app(), terminal_size=SIZE, run_before=open_kit)


def test_grid_pad(pad_studio, snap_compare):
    """A grid kit in the Kit tab: its pad with the middle cell selected, beside the samples."""
    async def open_pad(pilot) -> None:
        await pilot.press("f4")
        await settle(pilot)
        await pilot.press("up", "right")
        await settle(pilot)

    assert snap_compare(app(), terminal_size=SIZE, run_before=open_pad)


def test_help_screen(studio, snap_compare):
    assert snap_compare(app(), terminal_size=SIZE, press=["f1"], run_before=settle)


def test_file_browser(studio, snap_compare):
    async def browse(pilot) -> None:
        await settle(pilot)
        pilot.app.query_one("#source-0-path").focus()
        await pilot.press("ctrl+o")
        await settle(pilot)

    assert snap_compare(app(), terminal_size=SIZE, run_before=browse)
