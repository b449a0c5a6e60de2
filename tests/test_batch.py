"""``lts-sampler batch``: every kit of a plan, as ``render`` makes each, resumed, failures reported."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import fluid
from support.cluster import local_cluster

from lts_sampler.faces.cli import main
from lts_sampler.kits.plan import demo_sources

PLAN = """\
[defaults]
quality = "draft"
duration = 1.0

[[kit]]
demo = true
out = "kits/keys"
alphas = "0,1"

[[kit]]
sources = ["{a}", "{b}"]
mode = "morph"
alphas = "-0.5:1.5:1"
round_robins = 2
out = "kits/morph"
"""


def write_plan(folder: Path, text: str = PLAN) -> Path:
    a, b = demo_sources()
    plan = folder / "plan.toml"
    plan.write_text(text.format(a=a, b=b))
    return plan


def run(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["batch", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_a_plan_renders_every_kit_as_render_would_and_then_skips_them(tmp_path, capsys):
    plan = write_plan(tmp_path)
    status, out, err = run(capsys, str(plan), "--json")
    assert status == 0 and json.loads(out)["rendered"] == 2
    for kit, samples in (("keys", 2), ("morph", 6)):  # one line a kit, however long its path
        assert f"rendered    {tmp_path / 'kits' / kit}: {samples} samples in " in err, err
    a, b = demo_sources()
    assert main(["render", a, b, "--mode", "morph", "--alphas", "-0.5:1.5:1", "--round-robins", "2",
                 "--quality", "draft", "--duration", "1.0", "-o", str(tmp_path / "alone")]) == 0
    wavs = sorted((tmp_path / "alone" / "samples").glob("*.wav"))
    assert len(wavs) == 6
    for wav in wavs:
        assert (tmp_path / "kits" / "morph" / "samples" / wav.name).read_bytes() == wav.read_bytes()
    capsys.readouterr()

    status, out, _ = run(capsys, str(plan), "--json")
    assert status == 0 and (json.loads(out)["rendered"], json.loads(out)["up to date"]) == (0, 2)

    plan.write_text(plan.read_text().replace('alphas = "0,1"', 'alphas = "0,0.5,1"'))
    status, out, _ = run(capsys, str(plan), "--json")
    summary = json.loads(out)
    assert (summary["rendered"], summary["up to date"]) == (1, 1)
    assert [k["status"] for k in summary["kits"]] == ["rendered", "up to date"]
    assert len(list((tmp_path / "kits" / "keys" / "samples").glob("*.wav"))) == 3


def test_local_worker_processes_render_the_same_bytes(tmp_path, capsys):
    plan = write_plan(tmp_path)
    assert run(capsys, str(plan))[0] == 0
    (tmp_path / "kits").rename(tmp_path / "here")
    assert run(capsys, str(plan), "--workers", "2")[0] == 0
    wavs = sorted((tmp_path / "here").rglob("*.wav"))
    assert len(wavs) == 8
    for wav in wavs:
        assert (tmp_path / "kits" / wav.relative_to(tmp_path / "here")).read_bytes() == wav.read_bytes()


def test_a_kit_that_fails_is_one_line_and_the_others_go_on(tmp_path, capsys):
    plan = write_plan(tmp_path, PLAN.replace('out = "kits/keys"', 'out = "kits/keys"\noffset = 30'))
    status, _, err = run(capsys, str(plan))
    assert status == 1
    failed = [line for line in err.splitlines() if "failed " in line]
    assert len(failed) == 1 and "kits/keys" in failed[0] and "offset" in failed[0]
    assert not (tmp_path / "kits" / "keys").exists()
    assert (tmp_path / "kits" / "morph" / "kit.json").is_file()
    assert "1 rendered, 0 up to date, 1 failed" in err


@pytest.mark.parametrize("change, words", [
    (('alphas = "0,1"', 'alpha = "0,1"'), ("kit 1 (kits/keys)", "unknown key 'alpha'")),
    (("round_robins = 2", "round_robins = 0"), ("kit 2 (kits/morph)", "round_robins 0", "1 or more")),
    (('"{b}"', '"missing.wav"'), ("kit 2 (kits/morph)", "source B", "no such file")),
    (("[[kit]]\nsources", "[[kit]]\nsources = ["), ("not valid TOML",)),
    (('out = "kits/morph"', 'out = "kits/keys"'), ("kit 2", "kit 1's too")),
], ids=["unknown key", "bad value", "missing source", "not TOML", "one folder twice"])
def test_a_bad_plan_is_refused_in_one_line_before_anything_renders(tmp_path, capsys, change, words):
    plan = write_plan(tmp_path, PLAN.replace(*change))
    status, out, err = run(capsys, str(plan))
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("lts-sampler: error: plan ")
    for word in words:
        assert word in err
    assert not (tmp_path / "kits").exists()


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory) -> Iterator[str]:
    """A Dask scheduler and two worker processes on 127.0.0.1 (:mod:`support.cluster`): its address."""
    pytest.importorskip("distributed")
    with local_cluster(tmp_path_factory.mktemp("dask")) as address:
        yield address


SIX_KITS = """\
[defaults]
quality = "draft"
duration = 1.0

[[kit]]
demo = true
alphas = "0,1"
out = "kits/keys"

[[kit]]
sources = ["{a}", "{b}"]
mode = "morph"
alphas = "0,0.5,1"
out = "kits/morph"

[[kit]]
sources = ["{a}", "{b}", "{c}", "{d}"]
grid = 2
out = "kits/grid"

[[kit]]
sources = ["flute", "violin"]
alphas = "0,1"
out = "kits/notes"

[[kit]]
sources = ["{a}", "{b}"]
offset = [0.2, 0.5]
duration = [0.6, 0.8]
alphas = "0,1"
out = "kits/excerpt"

[[kit]]
sources = ["{a}", "{b}"]
mode = "morph"
alphas = "0,1"
round_robins = 3
out = "kits/round-robins"
"""


def test_a_cluster_renders_the_same_bytes_as_this_machine(tmp_path, capsys, dask_cluster):
    fluid.needs_fluidsynth()
    for name in ("flute", "violin"):
        fluid.note_set(tmp_path / name, name, [55, 67], seconds=1.0)
    a, b, c, d = demo_sources(grid=True)
    plan = tmp_path / "plan.toml"
    plan.write_text(SIX_KITS.format(a=a, b=b, c=c, d=d))
    assert run(capsys, str(plan))[0] == 0
    (tmp_path / "kits").rename(tmp_path / "here")
    status, out, _ = run(capsys, str(plan), "--cluster", dask_cluster, "--json")
    assert status == 0 and json.loads(out)["rendered"] == 6
    wavs = sorted((tmp_path / "here").rglob("*.wav"))
    assert len(wavs) == 2 + 3 + 4 + 4 + 2 + 6
    for wav in wavs:
        assert (tmp_path / "kits" / wav.relative_to(tmp_path / "here")).read_bytes() == wav.read_bytes()
    print(f"{len(wavs)} WAVs of 6 kits rendered on the cluster, byte for byte those rendered here")


def test_the_cluster_renders_the_next_kits_while_this_machine_writes_one(tmp_path, capsys, dask_cluster):
    import distributed

    a, b = demo_sources()
    plan = tmp_path / "plan.toml"
    plan.write_text('[defaults]\nquality = "draft"\nduration = 1.0\n' + "".join(
        f'[[kit]]\nsources = ["{a}", "{b}"]\nalphas = "{alpha}"\nout = "kits/{alpha}"\n' for alpha in (0, 0.5, 1, 1.5)))
    with distributed.Client(dask_cluster, timeout=60) as client, distributed.get_task_stream(client) as stream:
        assert run(capsys, str(plan), "--cluster", dask_cluster)[0] == 0  # kits of one sample each
    computed = sorted((s["start"], s["stop"]) for task in stream.data for s in task["startstops"]
                      if s["action"] == "compute")
    assert len(computed) == 4
    assert any(start < stop for (_, stop), (start, _) in zip(computed, computed[1:])), "a worker idle between kits"


def test_a_worker_killed_mid_batch_costs_time_not_kits(tmp_path, dask_cluster):
    import distributed

    plan = write_plan(tmp_path, PLAN.replace('quality = "draft"', 'quality = "normal"'))
    batch = subprocess.Popen([sys.executable, "-m", "lts_sampler.faces.cli", "batch", str(plan), "--cluster",
                              dask_cluster, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with distributed.Client(dask_cluster, timeout=60) as client:
        deadline = time.monotonic() + 300  # a safety net: the first task starts within seconds
        while not any(client.processing().values()):
            assert time.monotonic() < deadline and batch.poll() is None, "no task started"
            time.sleep(0.01)
        busy, tasks = next((worker, tasks) for worker, tasks in client.processing().items() if tasks)
        pid = client.run(os.getpid, workers=[busy])[busy]
        os.kill(pid, signal.SIGKILL)
        print(f"killed worker {busy} (pid {pid}) while it ran {len(tasks)} task(s)")
    out, err = batch.communicate(timeout=600)
    print(err.strip())
    assert batch.returncode == 0, err
    assert json.loads(out)["rendered"] == 2
    for kit, samples in (("keys", 2), ("morph", 6)):
        manifest = json.loads((tmp_path / "kits" / kit / "kit.json").read_text())
        assert len(manifest["regions"]) == samples
        assert sorted(p.name for p in (tmp_path / "kits" / kit / "samples").iterdir()) == sorted(
            r["sample"] for r in manifest["regions"])


LONG_SECOND_KIT = """\
[[kit]]
demo = true
alphas = "0,1"
quality = "draft"
duration = 1.0
out = "kits/first"

[[kit]]
demo = true
mode = "morph"
alphas = "-0.5:1.5:0.125"
duration = 2.0
out = "kits/second"
"""
"""A quick kit, then one of seconds: Ctrl-C lands while the second renders."""


def running_in_session(session: int) -> dict[int, str]:
    """The processes of ``session`` still running (a zombie no one reaps has ended): their
    command lines by pid."""
    running = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (command)"
            command = stat.with_name("cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # ended while we looked
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            running[int(stat.parent.name)] = command
    return running


@pytest.mark.parametrize("where", ["threads", "processes", "cluster"])
def test_ctrl_c_cancels_the_batch_and_leaves_whole_kits_only(tmp_path, request, where):
    plan = tmp_path / "plan.toml"
    plan.write_text(LONG_SECOND_KIT)
    extra = {"threads": [], "processes": ["--workers", "2"]}.get(where) or [
        "--cluster", request.getfixturevalue("dask_cluster")]
    command = [sys.executable, "-X", "faulthandler", "-m", "lts_sampler.faces.cli", "batch", str(plan), *extra]
    batch = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    for line in batch.stderr:  # the batch ends on its own if never interrupted: no wait without end
        if line.split()[:1] == ["rendered"]:
            break
    assert batch.poll() is None, "the batch ended before Ctrl-C"
    os.killpg(batch.pid, signal.SIGINT)  # as a terminal sends it: to the client and its local workers
    try:
        out, err = batch.communicate(timeout=120)  # a safety net: it ends within seconds
    except subprocess.TimeoutExpired:
        os.killpg(batch.pid, signal.SIGABRT)  # faulthandler prints where every thread is
        pytest.fail(f"the batch hung after Ctrl-C:\n{batch.communicate()[1][-8000:]}")
    assert batch.returncode == 130 and out == ""
    assert err.strip().splitlines() == ["lts-sampler: interrupted"], err
    deadline = time.monotonic() + 30  # a safety net: multiprocessing's resource tracker ends as the batch does
    while running_in_session(batch.pid):
        assert time.monotonic() < deadline, f"processes outlived the batch: {running_in_session(batch.pid)}"
        time.sleep(0.05)
    assert [p.name for p in (tmp_path / "kits").iterdir()] == ["first"], "half a kit, or a temporary folder"
    manifest = json.loads((tmp_path / "kits" / "first" / "kit.json").read_text())
    assert len(list((tmp_path / "kits" / "first" / "samples").iterdir())) == len(manifest["regions"]) == 2
    if where == "cluster":
        import distributed

        with distributed.Client(request.getfixturevalue("dask_cluster"), timeout=60) as client:
            deadline = time.monotonic() + 60  # a safety net: the scheduler forgets a gone client's tasks at once
            while client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)):
                assert time.monotonic() < deadline, "the cluster still holds the batch's work"
                time.sleep(0.1)
