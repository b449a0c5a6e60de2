"""The terminal UI, driven by a pilot: pairs saved as typed, a bank rendered, a render
cancelled, mistakes shown inline."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from textual.widgets import Input, Static

from lts_sampler.tui import LtsApp

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


async def _fill_demo_pair(pilot, out: Path, alphas: str = "0,1") -> None:
    await _type(pilot, "name", "demo pair")
    await _type(pilot, "source_a", str(DEMO / "bass_thick_c.flac"))
    await _type(pilot, "source_b", str(DEMO / "ambi_choir.flac"))
    await _type(pilot, "durations", "0.5")
    await _type(pilot, "alphas", alphas)
    await _type(pilot, "quality", "draft")
    await _type(pilot, "out", str(out))


def test_a_pair_is_saved_as_typed_rendered_and_found_again(tmp_path):
    session, out = tmp_path / "session.json", tmp_path / "kits" / "pair"
    out.parent.mkdir()

    async def drive() -> None:
        async with LtsApp(session).run_test(size=(100, 30)) as pilot:
            await _fill_demo_pair(pilot, out)
            await pilot.press("ctrl+r")
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            assert pilot.app.query_one("#message", Static).render().plain == ""

    asyncio.run(drive())
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["00_a+0.00.wav", "01_a+1.00.wav"]
    assert "sample=00_a+0.00.wav key=60" in (out / "pair.sfz").read_text()
    saved = json.loads(session.read_text())["pairs"]
    assert [p["name"] for p in saved] == ["demo pair"] and saved[0]["alphas"] == "0,1"

    async def reopen() -> None:
        async with LtsApp(session).run_test(size=(100, 30)) as pilot:
            assert pilot.app.query_one("#name", Input).value == "demo pair"
            assert pilot.app.query_one("#source_b", Input).value.endswith("ambi_choir.flac")

    asyncio.run(reopen())


def test_a_cancelled_render_leaves_the_previous_kit_as_it_was(tmp_path):
    out = tmp_path / "kit"

    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json").run_test(size=(100, 30)) as pilot:
            await _fill_demo_pair(pilot, out)
            await pilot.press("ctrl+r")
            await pilot.app.workers.wait_for_complete()
            before = {p.name: p.read_bytes() for p in (out / "samples").iterdir()}
            await _type(pilot, "alphas", "-0.5:1.5:0.25")
            await _type(pilot, "quality", "high")
            await _type(pilot, "durations", "1.5")
            pilot.app.action_render()  # as ctrl+r, without waiting for the app to be idle
            await pilot.press("escape")
            await pilot.app.workers.wait_for_complete()
            assert {p.name: p.read_bytes() for p in (out / "samples").iterdir()} == before
            assert "cancelled" in "\n".join(pilot.app.query_one("#log").lines)

    asyncio.run(drive())


def test_mistakes_in_the_form_are_shown_inline_and_the_app_stays(tmp_path):
    async def drive() -> None:
        async with LtsApp(tmp_path / "session.json").run_test(size=(100, 30)) as pilot:
            message = pilot.app.query_one("#message", Static)
            await _fill_demo_pair(pilot, tmp_path / "kit", alphas="0,,x")
            await pilot.press("ctrl+r")
            assert "α" in message.render().plain or "alpha" in message.render().plain.lower()
            await _type(pilot, "alphas", "0,1")
            for field, bad, words in (("offsets", "soon", "offsets"), ("source_a", "/no/such.wav", "does not exist"),
                                      ("mode", "loud", "keys or morph")):
                await _type(pilot, field, bad)
                await pilot.press("ctrl+r")
                assert words in message.render().plain
                await _type(pilot, field, {"offsets": "0", "source_a": str(DEMO / "bass_thick_c.flac"), "mode": "keys"}[field])
            assert pilot.app.is_running

    asyncio.run(drive())
