"""The command palette's commands: every action of the app, as "area: action"."""

from __future__ import annotations

from functools import partial

from textual.command import Hit, Hits, Provider

COMMANDS = (
    ("pair: new", "new_pair", "Add an empty pair"),
    ("pair: duplicate", "duplicate_pair", "Copy the selected pair and its settings"),
    ("pair: rename", "rename_pair", "Edit the selected pair's name"),
    ("pair: delete", "delete_pair", "Delete the selected pair (its kit stays on disk)"),
    ("pair: demo sources", "demo_pair", "Set the selected pair's sources to the bundled demo sounds"),
    ("source: add", "add_source", "Add a source for a weighted mix of three or more"),
    ("source: browse", "browse", "Choose the focused source's file"),
    ("source: listen", "listen", "Play the focused source's excerpt"),
    ("bank: render", "render", "Render the selected pair's kit"),
    ("bank: cancel", "cancel", "Stop the render; the kit already there stays"),
    ("kit: show", "show_tab('kit')", "Show the kit and play it"),
    ("sound: stop", "stop_sound", "Silence every note and preview"),
    ("sound: open again", "open_sound", "Look for an audio output again (e.g. after starting JACK)"),
    ("help", "help", "The guide and every key"),
)


class LtsCommands(Provider):
    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, action, help_text in COMMANDS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self.app.run_action, action), help=help_text)

    async def discover(self) -> Hits:
        for name, action, help_text in COMMANDS:
            yield Hit(1.0, name, partial(self.app.run_action, action), help=help_text)
