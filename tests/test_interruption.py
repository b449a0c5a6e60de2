"""Renders killed or interrupted at any moment leave the kit whole: the old one or the new one.

A render writes its kit into a hidden folder beside the target and swaps it in at the end
(:func:`lts_sampler.core.atomic.replacing_dir`). These tests run ``lts-sampler render`` as a user
does, kill it (SIGKILL) at random moments spread over the whole run, final write and swap
included, or interrupt it (SIGINT, Ctrl-C), and look at what a sampler or a DAW would find.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from support.cli import CLI, ROOT

from lts_sampler.core.atomic import replacing_dir
from lts_sampler.core.interrupts import catching_interrupts

KILLS = 10


def start_render(out: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lts_sampler", "render", "--demo", "-o", str(out), *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def render(out: Path, *args: str) -> None:
    """Render to the end."""
    process = start_render(out, *args)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr


def snapshot(kit: Path) -> dict[str, str]:
    """Every file under ``kit`` → its sha256."""
    files = sorted(p for p in kit.rglob("*") if p.is_file())
    return {str(p.relative_to(kit)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def assert_complete(kit: Path) -> dict:
    """``kit`` is a whole kit: kit.json, the SFZ and the samples agree and every WAV reads; its kit.json."""
    manifest = json.loads((kit / "kit.json").read_text())
    names = sorted(region["sample"] for region in manifest["regions"])
    assert sorted(p.name for p in kit.iterdir()) == sorted(["kit.json", f"{manifest['name']}.sfz", "samples"])
    assert sorted(p.name for p in (kit / "samples").iterdir()) == names
    sfz = (kit / f"{manifest['name']}.sfz").read_text()
    assert sorted(re.findall(r"sample=(\S+)", sfz)) == names
    for name in names:
        audio, rate = sf.read(kit / "samples" / name, dtype="float32")
        assert rate == manifest["sample_rate"] and len(audio) > 0 and np.all(np.isfinite(audio)), name
    return manifest


def alphas(run: int) -> list[float]:
    """A different middle layer on every run, so that each new kit differs from the last."""
    return [-0.5, round(0.05 * (run + 1), 2), 1.5]


def hidden(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.startswith(".")}


def watch_write(process: subprocess.Popen, folder: Path, *, timeout: float = 60) -> float | None:
    """Wait until ``process`` starts writing its kit (a new hidden folder appears in ``folder``):
    the time then (monotonic), or None if it ended first."""
    before = hidden(folder)
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if hidden(folder) - before:
            return time.monotonic()
        time.sleep(0.001)
    return None


@pytest.mark.slow
def test_a_render_killed_at_any_moment_leaves_the_old_kit_or_the_new_one(tmp_path):
    kits = tmp_path / "kits"
    target = kits / "k"
    args = ("--n-iter", "4", "--alphas", "-0.5,0,1.5")  # as long as the renders killed below
    render(target, *args)
    started = time.monotonic()
    process = start_render(target, *args)
    writing = watch_write(process, kits)
    assert writing is not None, process.communicate()[1]
    while hidden(kits) and process.poll() is None:  # until the kit is swapped in and the old one gone
        time.sleep(0.001)
    write_s = time.monotonic() - writing
    assert process.wait(timeout=120) == 0
    seconds = time.monotonic() - started
    old = snapshot(target)
    assert_complete(target)
    rng = np.random.default_rng(0)
    # Half the kills after a delay drawn in one of KILLS // 2 equal slices of 1.1 × a whole run:
    # during start-up, rendering, writing and the swap, and some after the end. The other half
    # once the kit's folder is being written: at once, and at random moments of the write and
    # swap, or just after.
    delays = (np.arange(KILLS // 2) + rng.random(KILLS // 2)) / (KILLS // 2) * 1.1 * seconds
    writes = [0.0, *rng.random(KILLS // 2 - 1) * 1.5 * write_s]
    plan = [("any", d) for d in delays] + [("write", d) for d in writes]
    outcomes = []
    for run, index in enumerate(rng.permutation(len(plan))):
        when, delay = plan[index]
        wanted = alphas(run)
        process = start_render(target, "--n-iter", "4", "--alphas", ",".join(map(str, wanted)))
        if when == "write":
            watch_write(process, kits)
        time.sleep(delay)
        process.kill()
        process.communicate(timeout=30)
        manifest = assert_complete(target)
        now = snapshot(target)
        if now == old:
            outcomes.append(f"{when}:old")
        else:
            assert [layer["alpha"] for layer in manifest["layers"]] == wanted, "neither the old kit nor the new one"
            outcomes.append(f"{when}:new")
        old = now
        assert [p.name for p in kits.iterdir() if not p.name.startswith(".")] == ["k"], "a folder a DAW would list"
        assert len(hidden(kits)) <= 2, f"stale temporary folders pile up: {hidden(kits)}"  # the next write removes them
    print(f"render {seconds:.2f} s, writing {1000 * write_s:.0f} ms; after each kill: {' '.join(outcomes)}")
    assert "write:old" in outcomes  # a kill as the write began: the old kit stayed
    render(target, *args)
    assert [layer["alpha"] for layer in assert_complete(target)["layers"]] == [-0.5, 0, 1.5]
    assert [p.name for p in kits.iterdir()] == ["k"], "a finished render leaves nothing beside the kit"


MARK_THE_RENDER = """import sys, lts_sampler.faces.cli_render
make_kit = lts_sampler.faces.cli_render.make_kit
def marked(*args, **kwargs):
    print("rendering", flush=True)
    return make_kit(*args, **kwargs)
lts_sampler.faces.cli_render.make_kit = marked
"""
"""Run before the CLI: prints a line as the render of the samples begins (start-up over)."""


def test_ctrl_c_mid_render_is_one_line_and_keeps_the_old_kit(tmp_path):
    target = tmp_path / "kits" / "k"
    render(target, "--n-iter", "4")
    old = snapshot(target)
    process = subprocess.Popen([sys.executable, "-c", MARK_THE_RENDER + CLI, "render", "--demo", "-o", str(target),
                                "--alphas", "-0.25:1.75:0.25"],  # normal quality: seconds of work
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "rendering\n", process.communicate()[1]
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["lts-sampler: interrupted"], stderr
    assert snapshot(target) == old
    assert [p.name for p in target.parent.iterdir()] == ["k"], "the temporary folder is left behind"


class DropsACtrlC:
    """Deleted, it is Ctrl-C'd: Python drops the KeyboardInterrupt raised inside ``__del__``
    ("Exception ignored in …"), as it does in the weakref callbacks of an import."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10_000):  # the handler runs at a check between bytecodes, in here
            pass


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ctrl_c_python_drops_still_stops_the_write_and_keeps_the_old_kit(tmp_path):
    target = tmp_path / "k"
    with replacing_dir(target) as tmp:
        (tmp / "kit.json").write_text("old")
    with pytest.raises(KeyboardInterrupt), catching_interrupts():
        with replacing_dir(target) as tmp:
            (tmp / "kit.json").write_text("new")
            DropsACtrlC()  # deleted at once; the write carries on
    assert (target / "kit.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["k"], "the temporary folder is left behind"


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_next_write_removes_what_killed_writers_left_and_keeps_what_live_ones_write(tmp_path):
    target = tmp_path / "k"
    with replacing_dir(target) as tmp:
        (tmp / "kit.json").write_text("1")
    dead, live = dead_pid(), os.getpid()
    leftovers = [tmp_path / f".k.{dead}.abc_12.tmp", tmp_path / f".k.{dead}.old"]
    others = [tmp_path / f".k.{live}.xyz.tmp", tmp_path / f".k2.{dead}.abc.tmp", tmp_path / ".k.notes"]
    for folder in leftovers + others:
        folder.mkdir()
        (folder / "kit.json").write_text("stale")
    with replacing_dir(target) as tmp:
        (tmp / "kit.json").write_text("2")
    assert (target / "kit.json").read_text() == "2"
    assert not any(p.exists() for p in leftovers) and all(p.exists() for p in others)


def test_a_writer_killed_between_two_renames_gets_the_old_kit_back(tmp_path):
    target = tmp_path / "k"
    old = tmp_path / f".k.{dead_pid()}.old"
    old.mkdir()
    (old / "kit.json").write_text("old")
    with replacing_dir(tmp_path / "other") as tmp:  # only writes to k itself tidy up after k
        (tmp / "kit.json").write_text("x")
    assert not target.exists()
    with replacing_dir(target) as tmp:
        (tmp / "kit.json").write_text("new")
        assert (target / "kit.json").read_text() == "old"
    assert (target / "kit.json").read_text() == "new" and not old.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="elsewhere the folder is missing between two renames")
def test_a_reader_always_finds_the_folder_while_it_is_replaced(tmp_path):
    target = tmp_path / "k"
    with replacing_dir(target) as tmp:
        (tmp / "kit.json").write_text("0")
    missing, done = [], threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                (target / "kit.json").read_text()
            except FileNotFoundError:
                missing.append(1)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(1, 200):
            with replacing_dir(target) as tmp:
                (tmp / "kit.json").write_text(str(n))
    finally:
        done.set()
        reader.join()
    assert (target / "kit.json").read_text() == "199"
    assert not missing, f"the folder was missing {len(missing)} times"
