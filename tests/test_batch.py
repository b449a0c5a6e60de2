"""``lts-sampler batch``: every kit of a plan, as ``render`` makes each, resumed, failures reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
    status, out, _ = run(capsys, str(plan), "--json")
    assert status == 0 and json.loads(out)["rendered"] == 2
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
