"""Every script in benchmarks/ still runs, as a user runs it by hand: each in its ``--quick``
mode, which prints the machine and its table in seconds. Their figures are not checked here:
machines differ, and a busy one is slower (README, "Tests")."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.fluid import needs_fluidsynth
from support.jack import skip_unless_available

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def needs_tmux() -> None:
    if shutil.which("tmux") is None:
        pytest.skip("needs Debian tmux (apt-get install tmux)")


def needs_jack_clients() -> None:
    skip_unless_available()
    if shutil.which("jack_metro") is None:
        pytest.skip("needs JACK's example clients (apt-get install jackd2)")


SCRIPTS = ["batch.py", "grid.py", "live.py", "phase.py", "sampler.py", "soak.py", "tui_startup.py"]
NEEDS = {"batch.py": needs_fluidsynth, "grid.py": needs_fluidsynth, "live.py": needs_jack_clients,
         "tui_startup.py": needs_tmux}
"""What a script needs beyond the package, by script."""


def test_every_benchmark_is_tested():
    assert sorted(p.name for p in BENCHMARKS.glob("*.py")) == SCRIPTS


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_a_benchmark_runs_and_prints_its_machine(script, tmp_path):
    if script in NEEDS:
        NEEDS[script]()
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), "--quick"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-1500:]}\n{done.stderr[-2500:]}"
    first = done.stdout.splitlines()[0]
    assert "cores" in first, f"{script} does not say what it ran on: {first!r}"
    assert len(done.stdout.splitlines()) >= 2, f"{script} printed no figures:\n{done.stdout}"
