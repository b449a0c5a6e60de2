"""The layer contracts (pyproject.toml, ``lint-imports``) can fail: in a copy of the package,
each gets one import that breaks it, and import-linter must say so. A contract naming a module
import-linter cannot see would pass whatever the code did."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BREAKS = {
    "Layers: faces and training over playing over kits over synthesis over the core":
        ("core/pad.py", "import lts_sampler.kits.plan"),
    "Training, beside the faces, stands on the core and synthesis only":
        ("training/train.py", "import lts_sampler.playing.sampler"),
    "The core needs numpy and the standard library only": ("core/mixing.py", "import scipy.signal"),
    "torch only in training, which only the CLI's train and export verbs import (lazily)":
        ("faces/cli_render.py", "import lts_sampler.training.train"),
    "textual only in the terminal UI, which only the CLI's tui verb imports (lazily)":
        ("faces/doctor.py", "import textual.app"),
    "Playing starts fast: no onnxruntime, librosa, textual or torch": ("playing/sampler.py", "import librosa"),
}
"""Contract name → (module of the package, an import that breaks it)."""


def lint(folder: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the package copied into ``folder``, with the project's contracts."""
    linter = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(folder)}
    return subprocess.run([str(linter), "--no-cache", "--config", str(ROOT / "pyproject.toml")], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A copy of the package, the training code in it where it installs."""
    shutil.copytree(ROOT / "lts_sampler", tmp_path / "lts_sampler", symlinks=False,
                    ignore=shutil.ignore_patterns("__pycache__", "*.onnx", "*.flac"))
    return tmp_path


def test_every_contract_is_broken_by_what_it_forbids(package):
    kept = lint(package)
    assert kept.returncode == 0, kept.stdout[-3000:]
    assert f"Contracts: {len(BREAKS)} kept, 0 broken." in kept.stdout.replace("\n", " ")
    for contract, (module, line) in BREAKS.items():
        path = package / "lts_sampler" / module
        original = path.read_text()
        path.write_text(f"{original}\n{line}\n")
        try:
            broken = lint(package)
        finally:
            path.write_text(original)
        report = " ".join(broken.stdout.split())
        assert broken.returncode == 1 and f"{' '.join(contract.split())} BROKEN" in report, (contract, report[-2000:])
