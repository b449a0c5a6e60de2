"""How soon the terminal UI is ready: ``lts-sampler tui`` started in a tmux window of the
given size, timed until its screen shows the session's pair and the line that says it can
render. Needs tmux.

    python benchmarks/tui_startup.py            # 100×30 and 80×24, five starts each
    python benchmarks/tui_startup.py --quick    # one start at 100×30 (a check that it runs)
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 5
READY = "ctrl+r renders"
"""Shown once the pair's forms are filled and checked."""
TMUX = ["tmux", "-L", "lts-startup"]
"""A tmux server of its own, kept up by an idle session between runs."""


def started(size: tuple[int, int], folder: Path) -> float:
    """Seconds from launching the TUI until READY is on its screen."""
    session = f"lts-startup-{size[0]}x{size[1]}"
    command = f"{sys.executable} -m lts_sampler tui --no-sound"
    begin = time.perf_counter()
    subprocess.run([*TMUX, "new-session", "-d", "-s", session, "-x", str(size[0]), "-y", str(size[1]),
                    "-c", str(folder), command], check=True)
    try:
        while time.perf_counter() - begin < 30:
            capture = [*TMUX, "capture-pane", "-p", "-t", session]
            screen = subprocess.run(capture, capture_output=True, text=True).stdout
            if READY in screen:
                return time.perf_counter() - begin
            time.sleep(0.01)
        raise SystemExit(f"the TUI did not show {READY!r} within 30 s:\n{screen}")
    finally:
        subprocess.run([*TMUX, "kill-session", "-t", session], capture_output=True)


def main() -> None:
    if shutil.which("tmux") is None:
        raise SystemExit("needs tmux (apt-get install tmux)")
    quick = "--quick" in sys.argv[1:]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}")
    runs, sizes = (1, [(100, 30)]) if quick else (RUNS, [(100, 30), (80, 24)])
    subprocess.run([*TMUX, "new-session", "-d", "-s", "idle", "sleep 3600"], check=True)
    try:
        with tempfile.TemporaryDirectory() as folder:
            if not quick:
                started((100, 30), Path(folder))  # warm the file cache once
            for size in sizes:
                times = [started(size, Path(folder)) for _ in range(runs)]
                print(f"{size[0]}×{size[1]}: ready in {statistics.median(times):.2f} s "
                      f"(median of {runs}; {min(times):.2f}–{max(times):.2f} s)")
    finally:
        subprocess.run([*TMUX, "kill-server"], capture_output=True)


if __name__ == "__main__":
    main()
