"""The wheel a producer installs: the lts_sampler package alone, with its model, demo sounds and styles."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lts_sampler import __version__

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "lts_sampler", "export")


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> list[str]:
    """The file names in a wheel built from the repository's sources, offline, with this venv's setuptools.

    The sources are copied first, so that a stale ``build/`` of the checkout cannot leak into the wheel.
    """
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(src)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_wheel_holds_only_the_lts_sampler_package(wheel_names):
    assert {name.split("/")[0] for name in wheel_names} == {"lts_sampler", f"lts_sampler-{__version__}.dist-info"}


def test_wheel_holds_the_model_demo_styles_and_training_code(wheel_names):
    demo = [path.relative_to(ROOT).as_posix() for path in (ROOT / "lts_sampler" / "demo").glob("*.flac")]
    model = [f"lts_sampler/models/lts-default/{name}" for name in ("model.json", "encoder.onnx", "decoder.onnx")]
    assert demo
    assert {*demo, *model, "lts_sampler/faces/tui/app.tcss", "lts_sampler/training/train.py"} - set(wheel_names) == set()
