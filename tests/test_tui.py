"""The terminal UI, driven by a pilot: pairs saved as typed, a bank rendered, a render
cancelled, mistakes shown inline, a kit played from the computer keys."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import mido
import pytest
from jack_fixtures import jack_server  # noqa: F401 (a fixture)
from textual.widgets import DataTable, Input, Select, Static

from lts_sampler.tui.app import LtsApp
from lts_sampler.tui.bank import BankPane
from lts_sampler.tui.kitview import Piano

DEMO = Path(__file__).resolve().parent.parent / "lts_sampler" / "demo"


async def _type(pilot, field: str, text: str) -> None:
    """Fill a form field: short values typed key by key, as a user does; long paths pasted."""
    box = pilot.app.query_one(f"#{field}", Input)
    box.focus()
    box.value = ""
    if len(text) > 16:
        box.value = text
        await pilot.pause()
    else:
        await pilot.press(*text)


async def _choose(pilot, field: str, value: str) -> None:
    """Pick ``value`` in a drop-down with the keys: open it, go to the option, enter."""
    select = pilot.app.query_one(f"#{field}", Select)
    await pilot.app.run_action("show_tab('bank')")
    select.focus()
    values = pilot.app.query_one(BankPane).values[field]
    await pilot.press("enter", "home", *["down"] * values.index(value), "enter")
    assert select.value == value


def _message(pilot) -> str:
    return pilot.app.query_one("#message", Static).render().plain


async def _fill_pair(pilot, out: Path, alphas: str = "0,1") -> None:
    await pilot.press("ctrl+n")
    await _type(pilot, "name", "bass choir")
    await _type(pilot, "source-0-path", str(DEMO / "bass_thick_c.flac"))
    await _type(pilot, "source-1-path", str(DEMO / "ambi_choir.flac"))
    for i in (0, 1):
        await _type(pilot, f"source-{i}-duration", "0.5")
    await pilot.app.run_action("show_tab('bank')")
    await _type(pilot, "alphas", alphas)
    await _choose(pilot, "quality", "draft")
    await _type(pilot, "out", str(out))


def test_a_pair_is_saved_as_typed_rendered_and_found_again(tmp_path):
    session, out = tmp_path / "session.json", tmp_path / "kits" / "pair"
    out.parent.mkdir()

    async def drive() -> None:
        async with LtsApp(session, sound=False).run_test(size=(100, 30)) as pilot:
            await _fill_pair(pilot, out, alphas="0:1:0.5")
            assert _message(pilot).startswith("ready: 3 samples")
            await pilot.press("ctrl+r")
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            assert "wrote" in "\n".join(pilot.app.query_one("#log").lines)
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            table = pilot.app.query_one("#samples", DataTable)
            assert [table.get_row_at(i)[:3] for i in range(table.row_count)] == [
                ["00_a+0.00.wav", "α +0.00", "C4"],
                ["01_a+0.50.wav", "α +0.50", "C#4"],
                ["02_a+1.00.wav", "α +1.00", "D4"],
            ]

    asyncio.run(drive())
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["00_a+0.00.wav", "01_a+0.50.wav", "02_a+1.00.wav"]
    assert "sample=00_a+0.00.wav key=60" in (out / "pair.sfz").read_text()
    saved = json.loads(session.read_text())["pairs"]
    assert [p["name"] for p in saved] == ["demo pair", "bass choir"]
    assert saved[1]["alphas"] == "0:1:0.5" and saved[1]["quality"] == "draft"
    assert [s["duration"] for s in saved[1]["sources"]] == ["0.5", "0.5"]

    async def reopen() -> None:
        async with LtsApp(session, sound=False).run_test(size=(100, 30)) as pilot:
            pilot.app.query_one("#pairs").index = 1
            await pilot.pause()
            assert pilot.app.query_one("#name", Input).value == "bass choir"
            assert pilot.app.query_one("#source-1-path", Input).value.endswith("ambi_choir.flac")
            assert pilot.app.query_one("#quality", Select).value == "draft"

    asyncio.run(reopen())


def test_a_cancelled_render_leaves_the_previous_kit_as_it_was(tmp_path):
    out = tmp_path / "kit"

    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json", sound=False).run_test(size=(100, 30)) as pilot:
            await _fill_pair(pilot, out)
            await pilot.press("ctrl+r")
            await pilot.app.workers.wait_for_complete()
            before = {p.name: p.read_bytes() for p in (out / "samples").iterdir()}
            await _type(pilot, "alphas", "-0.5:1.5:0.25")
            await _choose(pilot, "quality", "high")
            await _type(pilot, "source-0-duration", "1.5")
            pilot.app.action_render()  # as ctrl+r, without waiting for the app to be idle
            await pilot.press("escape")
            await pilot.app.workers.wait_for_complete()
            assert {p.name: p.read_bytes() for p in (out / "samples").iterdir()} == before
            assert "cancelled" in "\n".join(pilot.app.query_one("#log").lines)
            assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    asyncio.run(drive())


@pytest.mark.parametrize(("field", "bad", "words"), [
    ("source-0-offset", "soon", "offset"),
    ("source-0-path", "/no/such.wav", "does not exist"),
    ("alphas", "0,,x", "α values"),
    ("curve", "0:0,0.5", "α curve"),
    ("root", "H9", "root note"),
    ("round_robins", "two", "round robins"),
])
def test_mistakes_in_the_form_are_shown_inline_and_the_app_stays(tmp_path, field, bad, words):
    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json", sound=False).run_test(size=(100, 30)) as pilot:
            await _fill_pair(pilot, tmp_path / "kit")
            assert _message(pilot).startswith("ready")
            if not field.startswith("source"):
                await pilot.app.run_action("show_tab('bank')")
            await _type(pilot, field, bad)
            assert words in _message(pilot)
            await pilot.press("ctrl+r")
            assert words in _message(pilot) and not pilot.app.rendering
            assert pilot.app.is_running

    asyncio.run(drive())
    assert not (tmp_path / "kit").exists()


def test_an_unwritable_output_folder_is_shown_inline(tmp_path):
    (tmp_path / "a file").write_text("not a folder")

    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json", sound=False).run_test(size=(100, 30)) as pilot:
            await _fill_pair(pilot, tmp_path / "a file" / "kit")
            await pilot.press("ctrl+r")
            assert "not a writable folder" in _message(pilot) and not pilot.app.rendering

    asyncio.run(drive())


def test_computer_keys_play_the_kit_as_a_piano_row(tmp_path, keys_kit):
    """a plays the kit's root (C4), w the next key; x moves an octave up; the key lights."""
    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json", sound=False).run_test(size=(100, 30)) as pilot:
            await _type(pilot, "name", "kit")
            await pilot.app.run_action("show_tab('bank')")
            await _type(pilot, "out", str(keys_kit))
            await pilot.app.run_action("show_tab('kit')")
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            piano = pilot.app.query_one(Piano)
            assert piano.base == 60 and 60 in piano.mapped
            await pilot.press("a", "w")
            assert pilot.app.audition.sounding() >= {60, 61}
            await pilot.pause(0.2)
            assert {60, 61} <= piano.sounding
            await pilot.press("x", "a")
            assert piano.base == 72 and 72 in pilot.app.audition.sounding()

    asyncio.run(drive())


@pytest.mark.usefixtures("jack_server")
def test_a_midi_keyboard_chosen_in_the_kit_tab_plays_and_lights_its_keys(tmp_path, keys_kit):
    """A JACK MIDI keyboard appears under "MIDI in"; chosen, its notes sound and light the piano."""
    name = f"tui-test-keyboard-{os.getpid()}"
    keyboard = mido.Backend("mido.backends.rtmidi/UNIX_JACK").open_output(name, virtual=True, client_name=name)

    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json").run_test(size=(100, 30)) as pilot:
            await pilot.app.workers.wait_for_complete()
            assert pilot.app.silent_reason is None
            await _type(pilot, "name", "kit")
            await pilot.app.run_action("show_tab('bank')")
            await _type(pilot, "out", str(keys_kit))
            await pilot.press("f4")
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            select = pilot.app.query_one("#midi-in", Select)
            port = next(p for p in pilot.app.audition.midi_inputs()[0] if name in p)
            select.value = port
            await pilot.pause()
            assert pilot.app.audition.listening == port
            keyboard.send(mido.Message("note_on", note=64, velocity=100))
            piano = pilot.app.query_one(Piano)
            for _ in range(40):
                await pilot.pause(0.05)
                if 64 in piano.sounding:
                    break
            assert 64 in piano.sounding and 64 in pilot.app.audition.sounding()
            keyboard.send(mido.Message("note_off", note=64))

    try:
        asyncio.run(drive())
    finally:
        keyboard.close()


def test_a_third_source_mixes_by_weights_and_a_curve_makes_one_moving_sample(tmp_path):
    out = tmp_path / "kit"

    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json", sound=False).run_test(size=(100, 30)) as pilot:
            await _fill_pair(pilot, out)
            await _type(pilot, "curve", "0:0,1:1")
            assert _message(pilot).startswith("ready: 1 samples")
            await pilot.press("ctrl+r")
            await pilot.app.workers.wait_for_complete()
            assert sorted(p.name for p in (out / "samples").iterdir()) == ["00_curve.wav"]

            await pilot.app.run_action("show_tab('sources')")
            pilot.app.query_one("#add-source").focus()
            await pilot.press("enter")
            await pilot.pause()
            await _type(pilot, "source-2-path", str(DEMO / "bass_thick_c.flac"))
            await _type(pilot, "source-2-offset", "0.5")
            assert "weights" in _message(pilot)
            await pilot.app.run_action("show_tab('bank')")
            assert not pilot.app.query_one("#alphas").display
            await _type(pilot, "weights", "1,0,0;0.2,0.3,0.5")
            await pilot.press("ctrl+r")
            await pilot.app.workers.wait_for_complete()

    asyncio.run(drive())
    manifest = json.loads((out / "kit.json").read_text())
    assert [layer["weights"] for layer in manifest["layers"]] == [[1, 0, 0], [0.2, 0.3, 0.5]]
    assert [s["offset"] for s in manifest["sources"]] == [0, 0, 0.5]


def test_ctrl_l_plays_the_focused_sources_excerpt_and_says_why_it_is_silent(tmp_path):
    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json", sound=False).run_test(size=(100, 30)) as pilot:
            await _fill_pair(pilot, tmp_path / "kit")
            await pilot.app.run_action("show_tab('sources')")
            await _type(pilot, "source-1-offset", "0.25")
            await pilot.press("ctrl+l")
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            assert pilot.app.audition.previewing()
            last = pilot.app.query_one("#log").lines[-1]
            assert last == "playing ambi_choir.flac from 0.25 s, 0.50 s (silently: turned off (--no-sound))"

    asyncio.run(drive())


def test_f1_lists_the_keys_and_the_palette_finds_the_actions(tmp_path):
    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json", sound=False).run_test(size=(100, 30)) as pilot:
            await pilot.press("f1")
            text = pilot.app.screen.query_one("Markdown").source
            assert "| `ctrl+r` | Render |" in text and "ctrl+o" in text
            await pilot.press("escape", "ctrl+p", *"duplicate", "enter")
            await pilot.pause()
            assert [p.name for p in pilot.app.session.pairs] == ["demo pair", "demo pair copy"]

    asyncio.run(drive())
