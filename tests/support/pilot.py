"""Driving the terminal UI in tests (Textual's Pilot)."""

from __future__ import annotations

import time


async def settle(pilot, timeout_s: float = 60) -> None:
    """Let the app handle its messages and every worker end, three times over (what one does
    may start another); an exclusive worker cancelled by a newer one of its group counts as
    ended (``workers.wait_for_complete`` would raise for it)."""
    deadline = time.monotonic() + timeout_s
    for _ in range(3):
        await pilot.pause()
        while not all(worker.is_finished for worker in pilot.app.workers):
            assert time.monotonic() < deadline, f"workers still running: {list(pilot.app.workers)}"
            await pilot.pause(0.02)
