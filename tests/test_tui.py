"""The terminal UI, driven by a pilot: pairs saved as typed, a bank rendered, a render
cancelled, mistakes shown inline, a kit played from the computer keys, a grid kit's pad."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path

import mido
import pytest
from support.cli import lts
from support.pilot import settle
from textual.widgets import DataTable, Input, Select, Static

from lts_sampler.faces.tui.app import LtsApp
from lts_sampler.faces.tui.bank import BankPane
from lts_sampler.faces.tui.kitview import Piano
from lts_sampler.faces.tui.pad import Pad
from lts_sampler.faces.tui.plots import Trajectories
from lts_sampler.playing.sampler import Sampler

DEMO = Path(__file__).resolve().parent.parent / "lts_sampler" / "demo"


async def _type(pilot, field: str, text: str) -> None:
    """Fill a form field: short values typed key by key, as a user does; long paths pasted."""
    box = pilot.app.query_one(f"#{field}", Input)
    box.focus()
    box.value = ""
    if len(text) > 16 or not text:
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


def _log(pilot) -> list[str]:
    return pilot.app.query_one("#log").lines


async def _until(pilot, done, timeout_s: float = 10) -> bool:
    """Whether ``done()`` holds within ``timeout_s`` while the app runs (the audio callback
    takes what the UI sends at its next block)."""
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        await pilot.pause(0.05)
    return done()


async def _open_kit(pilot, folder: Path) -> None:
    """Point the selected pair's output folder at ``folder`` and show its kit in the Kit tab."""
    await pilot.app.run_action("show_tab('bank')")
    await _type(pilot, "out", str(folder))
    await pilot.app.run_action("show_tab('kit')")
    await settle(pilot)


def _pad(pilot) -> list[str]:
    """The pad as drawn: corner names, the square, corner names, then three lines about the cell."""
    return pilot.app.query_one(Pad).render().plain.splitlines()


def _sample(pilot) -> str:
    """The sample under the table's cursor."""
    table = pilot.app.query_one("#samples", DataTable)
    return table.get_row_at(table.cursor_row)[0]


@pytest.fixture(scope="module")
def pitched_kit(tmp_path_factory) -> Path:
    """A morph kit of two note sets, bass and choir, each named as C3 (48) and C4 (60): two banks."""
    folder = tmp_path_factory.mktemp("sets")
    for name, demo in (("bass", "bass_thick_c.flac"), ("choir", "ambi_choir.flac")):
        (folder / name).mkdir()
        for pitch in (48, 60):
            shutil.copy(DEMO / demo, folder / name / f"{name}_{pitch}.flac")
    result = lts("render", str(folder / "bass"), str(folder / "choir"), "--alphas", "0,1", "--duration", "0.5",
                 "--n-iter", "4", "-o", str(folder / "kit"))
    assert result.returncode == 0, result.stderr
    return folder / "kit"


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


@pytest.mark.slow
def test_a_pair_is_saved_as_typed_rendered_and_found_again(tmp_path):
    session, out = tmp_path / "session.json", tmp_path / "kits" / "pair"
    out.parent.mkdir()

    async def drive() -> None:
        async with LtsApp(session, sound=False).run_test(size=(100, 30)) as pilot:
            await _fill_pair(pilot, out, alphas="0:1:0.5")
            assert _message(pilot).startswith("ready: 3 samples")
            await pilot.press("ctrl+r")
            await settle(pilot)
            await pilot.pause()
            assert "wrote" in "\n".join(pilot.app.query_one("#log").lines)
            await settle(pilot)
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


@pytest.mark.slow
def test_a_cancelled_render_leaves_the_previous_kit_as_it_was(tmp_path):
    out = tmp_path / "kit"

    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json", sound=False).run_test(size=(100, 30)) as pilot:
            await _fill_pair(pilot, out)
            await pilot.press("ctrl+r")
            await settle(pilot)
            before = {p.name: p.read_bytes() for p in (out / "samples").iterdir()}
            await _type(pilot, "alphas", "-0.5:1.5:0.25")
            await _choose(pilot, "quality", "high")
            await _type(pilot, "source-0-duration", "1.5")
            pilot.app.action_render()  # as ctrl+r, without waiting for the app to be idle
            await pilot.press("escape")
            await settle(pilot)
            assert {p.name: p.read_bytes() for p in (out / "samples").iterdir()} == before
            assert "cancelled" in "\n".join(pilot.app.query_one("#log").lines)
            assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    asyncio.run(drive())


MISTAKES = [
    ("source-0-offset", "soon", "offset"),
    ("source-0-path", "/no/such.wav", "no such file"),
    ("alphas", "0,,x", "α values"),
    ("curve", "0:0,0.5", "α curve"),
    ("root", "H9", "root note"),
    ("round_robins", "two", "round robins"),
]
"""(field, what is typed into it, words of the message that follows)"""


@pytest.mark.slow
def test_mistakes_in_the_form_are_shown_inline_and_the_app_stays(tmp_path):
    """Each mistake, typed into a form that was ready, is shown; ctrl+r then renders nothing;
    put right again, the form is ready."""
    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json", sound=False).run_test(size=(100, 30)) as pilot:
            await _fill_pair(pilot, tmp_path / "kit")
            for field, bad, words in MISTAKES:
                assert _message(pilot).startswith("ready"), field
                if not field.startswith("source"):
                    await pilot.app.run_action("show_tab('bank')")
                good = pilot.app.query_one(f"#{field}", Input).value
                await _type(pilot, field, bad)
                assert words in _message(pilot)
                await pilot.press("ctrl+r")
                assert words in _message(pilot) and not pilot.app.rendering
                assert pilot.app.is_running
                await _type(pilot, field, good)

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
            await settle(pilot)
            piano = pilot.app.query_one(Piano)
            assert piano.base == 60 and 60 in piano.mapped
            for key, note in (("a", 60), ("w", 61)):  # each sounds for a tap's hold time
                await pilot.press(key)
                assert note in pilot.app.audition.sounding()
                assert await _until(pilot, lambda: note in piano.sounding)  # noqa: B023 (awaited here)
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
            await settle(pilot)
            assert pilot.app.silent_reason is None
            await _type(pilot, "name", "kit")
            await pilot.app.run_action("show_tab('bank')")
            await _type(pilot, "out", str(keys_kit))
            await pilot.press("f4")
            await settle(pilot)
            await pilot.pause()
            select = pilot.app.query_one("#midi-in", Select)
            port = next(p for p in pilot.app.audition.midi_inputs()[0] if name in p)
            select.value = port
            await pilot.pause()
            assert pilot.app.audition.listening == port
            piano = pilot.app.query_one(Piano)
            for _ in range(5):  # played again if JACK dropped it with a period a loaded machine missed
                keyboard.send(mido.Message("note_on", note=64, velocity=100))
                if await _until(pilot, lambda: 64 in piano.sounding, timeout_s=2):
                    break
            assert 64 in piano.sounding
            assert 64 in pilot.app.audition.sounding()
            keyboard.send(mido.Message("note_off", note=64))

    try:
        asyncio.run(drive())
    finally:
        keyboard.close()


@pytest.mark.slow
def test_a_third_source_mixes_by_weights_and_a_curve_makes_one_moving_sample(tmp_path):
    out = tmp_path / "kit"

    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json", sound=False).run_test(size=(100, 30)) as pilot:
            await _fill_pair(pilot, out)
            await _type(pilot, "curve", "0:0,1:1")
            assert _message(pilot).startswith("ready: 1 samples")
            await pilot.press("ctrl+r")
            await settle(pilot)
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
            await settle(pilot)

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
            await settle(pilot)
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


def test_a_grid_kit_shows_its_pad_and_the_arrow_keys_move_over_it(tmp_path, grid_kit):
    """Y up as on the pad; each move plays the cell, the table follows, and the table moves the pad."""
    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json", sound=False).run_test(size=(100, 30)) as pilot:
            await _open_kit(pilot, grid_kit)
            pad = pilot.app.query_one(Pad)
            assert pad.display and pad.has_focus
            lines = _pad(pilot)
            assert lines[0].split() == ["C", "guit_harmonics", "elec_chime", "D"]
            assert lines[-4].split() == ["A", "bass_thick_c", "ambi_choir", "B"]
            assert lines[-3:] == ["g0-0  x 0.00 y 0.00", "A 1.00 B 0.00 C 0.00 D 0.00", "CC1 0  CC2 0"]
            assert _sample(pilot) == "g0-0.wav"

            await pilot.press("up", "right")
            await settle(pilot)
            assert _pad(pilot)[-3:] == ["g1-1  x 0.50 y 0.50", "A 0.25 B 0.25 C 0.25 D 0.25", "CC1 64  CC2 64"]
            assert _sample(pilot) == "g1-1.wav" and _log(pilot)[-1] == "playing g1-1.wav"

            await pilot.press("up", "up", "left")  # the second up meets the pad's edge
            await settle(pilot)
            assert _pad(pilot)[-3:] == ["g0-2  x 0.00 y 1.00", "A 0.00 B 0.00 C 1.00 D 0.00", "CC1 0  CC2 127"]
            assert _sample(pilot) == "g0-2.wav"
            assert [label for label, _, _ in pilot.app.query_one(Trajectories).curves] == ["A", "B", "C", "D", "g0-2"]

            pilot.app.query_one("#samples").focus()
            await pilot.press("up")  # the row before g0-2: the end of the row below
            await settle(pilot)
            assert _sample(pilot) == "g2-1.wav"
            assert _pad(pilot)[-3:-1] == ["g2-1  x 1.00 y 0.50", "A 0.00 B 0.50 C 0.00 D 0.50"]

    asyncio.run(drive())


def test_a_click_on_the_pad_selects_the_cell_under_it(tmp_path, grid_kit):
    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json", sound=False).run_test(size=(100, 30)) as pilot:
            await _open_kit(pilot, grid_kit)
            square = [(y, line) for y, line in enumerate(_pad(pilot)) if "▀" in line]
            top, bottom = square[0][0], square[-1][0]
            left, right = square[0][1].index("▀"), square[0][1].rindex("▀")
            origin = pilot.app.query_one(Pad).content_region.offset
            for (x, y), cell in [((right, top), "g2-2"), ((left, bottom), "g0-0"),
                                 (((left + right) // 2, (top + bottom) // 2), "g1-1")]:
                await pilot.click(offset=origin + (x, y))
                await settle(pilot)
                assert _pad(pilot)[-3].startswith(f"{cell} ")
                assert _sample(pilot) == f"{cell}.wav" and _log(pilot)[-1] == f"playing {cell}.wav"

    asyncio.run(drive())


@pytest.mark.usefixtures("jack_server")
def test_moving_over_the_pad_sets_the_sounding_controllers_to_the_cell(tmp_path, grid_kit, monkeypatch):
    """With sound, the engine behind the piano keys gets the cell's values on CC1 (X) and CC2 (Y),
    and then the keys' notes."""
    received: list[tuple[int, int]] = []
    played: list[int] = []
    control_change, note_on = Sampler.control_change, Sampler.note_on

    def spy_control(sampler, control: int, value: int) -> None:
        received.append((control, value))
        control_change(sampler, control, value)

    def spy_note(sampler, note: int, velocity: int) -> None:
        played.append(note)
        note_on(sampler, note, velocity)

    monkeypatch.setattr(Sampler, "control_change", spy_control)
    monkeypatch.setattr(Sampler, "note_on", spy_note)

    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json").run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            assert pilot.app.silent_reason is None
            await _open_kit(pilot, grid_kit)
            await pilot.press("right", "right", "up")
            await settle(pilot)
            assert _sample(pilot) == "g2-1.wav"
            assert await _until(pilot, lambda: dict(received) == {1: 127, 2: 64})  # the last value of each
            await pilot.press("a")
            assert await _until(pilot, lambda: played == [60])  # not just sounding(): a 0.6 s cell may end first

    asyncio.run(drive())


def test_a_kit_of_several_pitches_pictures_the_sources_of_the_samples_bank(tmp_path, pitched_kit):
    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json", sound=False).run_test(size=(100, 30)) as pilot:
            await _open_kit(pilot, pitched_kit)
            assert not pilot.app.query_one(Pad).display
            table = pilot.app.query_one("#samples", DataTable)
            assert [table.get_row_at(i)[2] for i in range(table.row_count)] == ["F#2–F#3"] * 2 + ["G3–F#4"] * 2
            for keys, mix in ((["down"] * 3, "α +1.00"), (["up"] * 3, "α +0.00")):  # the bank of C4, then C3's
                await pilot.press(*keys)
                await settle(pilot)
                assert [label for label, _, _ in pilot.app.query_one(Trajectories).curves] == ["A", "B", mix]
            assert not [line for line in _log(pilot) if "error" in line]

    asyncio.run(drive())


@pytest.mark.slow
def test_a_pair_of_four_sources_renders_a_grid_kit(tmp_path):
    out = tmp_path / "kit"

    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json", sound=False).run_test(size=(100, 30)) as pilot:
            await _fill_pair(pilot, out)
            await _choose(pilot, "mode", "grid")
            assert "a grid has four corners: give four sources A B C D, not 2" in _message(pilot)
            assert pilot.app.query_one("#grid").display and not pilot.app.query_one("#alphas").display
            await pilot.app.run_action("show_tab('sources')")
            for index, name in ((2, "guit_harmonics.flac"), (3, "elec_chime.flac")):
                pilot.app.query_one("#add-source").focus()
                await pilot.press("enter")
                await settle(pilot)
                await _type(pilot, f"source-{index}-path", str(DEMO / name))
                await _type(pilot, f"source-{index}-duration", "0.5")
            await pilot.app.run_action("show_tab('bank')")
            await _type(pilot, "grid", "20")
            assert _message(pilot).startswith("grid size 20: give 2 to 17 cells a side")
            await _type(pilot, "grid", "2")
            assert _message(pilot).startswith("ready: 4 samples")
            await _type(pilot, "cc_x", "64")
            assert _message(pilot).startswith("pad X controller 64: give a controller 0–127 other than 64")
            for field, value in (("grid_range", "-0.25:1.25"), ("cc_x", "74"), ("cc_y", "71"), ("seed", "3")):
                await _type(pilot, field, value)
            assert _message(pilot).startswith("ready: 4 samples")
            await pilot.press("ctrl+r")
            await settle(pilot)
            assert pilot.app.query_one(Pad).display
            assert _pad(pilot)[0].split() == ["C", "guit_harmonics", "elec_chime", "D"]

    asyncio.run(drive())
    manifest = json.loads((out / "kit.json").read_text())
    assert manifest["mode"] == "grid" and manifest["grid"]["size"] == 2
    assert (manifest["grid"]["range"], manifest["grid"]["cc_x"], manifest["grid"]["cc_y"]) == ([-0.25, 1.25], 74, 71)
    assert manifest["settings"]["seed"] == 3
    assert "xfin_locc74=" in (out / "kit.sfz").read_text()
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["g0-0.wav", "g0-1.wav", "g1-0.wav", "g1-1.wav"]
    assert json.loads((tmp_path / "session.json").read_text())["pairs"][-1]["grid"] == "2"


@pytest.mark.slow
def test_a_pair_of_note_sets_renders_the_kit_that_render_makes(tmp_path):
    """Sources that are folders of notes make a kit of several pitches, as ``render`` makes it
    from the same values: the form and the flags share one plan."""
    for name, demo in (("bass", "bass_thick_c.flac"), ("choir", "ambi_choir.flac")):
        (tmp_path / name).mkdir()
        for pitch in (48, 60):
            shutil.copy(DEMO / demo, tmp_path / name / f"{name}_{pitch}.flac")
    out = tmp_path / "tui" / "kit"

    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json", sound=False).run_test(size=(100, 30)) as pilot:
            await _fill_pair(pilot, out)
            for index, name in ((0, "bass"), (1, "choir")):
                await _type(pilot, f"source-{index}-path", str(tmp_path / name))
            await pilot.app.run_action("show_tab('bank')")
            assert _message(pilot) == "mode 'keys': a kit of several pitches plays in morph or grid mode, not keys"
            await _choose(pilot, "mode", "morph")
            await _type(pilot, "seed", "2")
            pilot.app.query_one("#trim").toggle()
            assert _message(pilot).startswith("ready: 2 samples for each pitch of the note sets")
            await pilot.press("ctrl+r")
            await settle(pilot)
            assert any(line.startswith("wrote") and "4 samples" in line for line in _log(pilot)), _log(pilot)

    asyncio.run(drive())
    result = lts("render", str(tmp_path / "bass"), str(tmp_path / "choir"), "--alphas", "0,1", "--duration", "0.5",
                 "--quality", "draft", "--seed", "2", "--trim", "-o", str(tmp_path / "cli" / "kit"))
    assert result.returncode == 0, result.stderr
    made = {p.name: p.read_bytes() for p in (out / "samples").iterdir()}
    assert sorted(made) == ["00_a+0.00_48.wav", "00_a+0.00_60.wav", "01_a+1.00_48.wav", "01_a+1.00_60.wav"]
    assert made == {p.name: p.read_bytes() for p in (tmp_path / "cli" / "kit" / "samples").iterdir()}
    assert (out / "kit.sfz").read_text() == (tmp_path / "cli" / "kit" / "kit.sfz").read_text()

