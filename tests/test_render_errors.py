"""Bad input to `render`: one line on stderr, exit 2, no kit written, an existing kit untouched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from test_cli_train import ROOT, assert_one_line_error, lts

DEMO = ROOT / "lts_sampler" / "demo"
GOOD = str(DEMO / "bass_thick_c.flac")


def _bundle_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(ROOT / "models" / "lts-default", copy)
    return copy


def _corrupt_onnx(tmp_path: Path) -> list[str]:
    """A bundle whose encoder is garbage, with its hash updated to match."""
    import hashlib

    bundle = _bundle_copy(tmp_path)
    garbage = b"\x08\x07 definitely not a protobuf" * 10
    (bundle / "encoder.onnx").write_bytes(garbage)
    info = json.loads((bundle / "model.json").read_text())
    info["sha256"]["encoder.onnx"] = hashlib.sha256(garbage).hexdigest()
    (bundle / "model.json").write_text(json.dumps(info))
    return ["--model", str(bundle)]


def _hash_mismatch(tmp_path: Path) -> list[str]:
    bundle = _bundle_copy(tmp_path)
    with open(bundle / "decoder.onnx", "ab") as f:
        f.write(b"\x00")
    return ["--model", str(bundle)]


def _write(tmp_path: Path, name: str, content) -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        sf.write(path, content, 44100, subtype="FLOAT")
    return str(path)


CASES = {
    "missing file": (lambda t: [GOOD, str(t / "nope.wav")], "does not exist"),
    "not audio named .wav": (lambda t: [GOOD, _write(t, "text.wav", b"hello, I am text" * 100)], "cannot read audio file"),
    "empty file": (lambda t: [GOOD, _write(t, "empty.wav", b"")], "cannot read audio file"),
    "excerpt beyond the end": (lambda t: [GOOD, GOOD, "--offset", "0,30"], "no audio at offset 30"),
    "NaN samples": (lambda t: [GOOD, _write(t, "nan.wav", np.full(44100, np.nan, np.float32))], "NaN"),
    "too short": (lambda t: [GOOD, _write(t, "click.wav", np.ones(100, np.float32) * 0.1)], "at least"),
    "unknown model": (lambda t: [GOOD, GOOD, "--model", "no-such-model"], "no model bundle"),
    "corrupt ONNX": (lambda t: [GOOD, GOOD, *_corrupt_onnx(t)], "encoder.onnx"),
    "hash mismatch": (lambda t: [GOOD, GOOD, *_hash_mismatch(t)], "sha256"),
    "α syntax": (lambda t: [GOOD, GOOD, "--alphas", "0:1"], "cannot read α values"),
    "α and curve together": (lambda t: [GOOD, GOOD, "--alphas", "0,1", "--curve", "0:0,1:1"], "choose one of"),
    "curve syntax": (lambda t: [GOOD, GOOD, "--curve", "0:0,0.5"], "α curve"),
    "one source": (lambda t: [GOOD], "two or more sources"),
    "bad root note": (lambda t: [GOOD, GOOD, "--root", "H9"], "root note"),
    "keys past 127": (lambda t: [GOOD, GOOD, "--root", "125"], "past MIDI note 127"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_leaves_the_old_kit(case, tmp_path):
    make_args, words = CASES[case]
    args = make_args(tmp_path)
    kit = tmp_path / "kits" / "mine"
    kit.mkdir(parents=True)
    (kit / "mine.sfz").write_text("<region> sample=old.wav\n")
    (kit / "kit.json").write_text("{}")
    result = lts("render", *args, "-o", str(kit), "--duration", "0.3", "--n-iter", "1")
    assert_one_line_error(result, words)
    assert sorted(p.name for p in kit.parent.iterdir()) == ["mine"]
    assert sorted(p.name for p in kit.iterdir()) == ["kit.json", "mine.sfz"]
    assert (kit / "mine.sfz").read_text() == "<region> sample=old.wav\n"


def test_an_unwritable_output_is_refused_before_rendering(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = lts("render", GOOD, GOOD, "-o", str(blocker / "kit"), "--duration", "0.3", "--n-iter", "1")
    assert_one_line_error(result, "cannot write the kit", "-o")
    assert blocker.read_text() == "not a folder"


def test_a_broken_manifest_is_one_line(tmp_path):
    (tmp_path / "kit.json").write_text("{not json")
    assert_one_line_error(lts("render", "--from", str(tmp_path / "kit.json")), "cannot read kit manifest")
    (tmp_path / "kit.json").write_text(json.dumps({"format": "something else"}))
    assert_one_line_error(lts("render", "--from", str(tmp_path / "kit.json")), "not an lts-kit/1 manifest")


def test_a_folder_that_is_not_a_kit_is_never_replaced(tmp_path):
    precious = tmp_path / "my-samples"
    precious.mkdir()
    (precious / "kick.wav").write_bytes(b"not to be lost")
    result = lts("render", GOOD, GOOD, "-o", str(precious), "--duration", "0.3", "--n-iter", "1")
    assert_one_line_error(result, "not a kit", "-o")
    assert [p.name for p in precious.iterdir()] == ["kick.wav"]


def test_sources_read_at_once_never_leave_stderr_silenced():
    """Sources are read on several threads, each silencing the C decoders' messages on fd 2
    while it probes its file. Overlapping so, they must give fd 2 back as it was: else the
    error, or the "interrupted", that follows would go nowhere."""
    import os
    import threading

    from lts_sampler.audio import _quiet_decoder_messages

    before = os.fstat(2)
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    silenced_after_the_first_left = []

    def first() -> None:
        with _quiet_decoder_messages():
            first_in.set()
            second_in.wait()
        first_out.set()

    def second() -> None:
        first_in.wait()
        with _quiet_decoder_messages():
            second_in.set()
            first_out.wait()
            silenced_after_the_first_left.append(os.path.samestat(os.fstat(2), os.stat(os.devnull)))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert silenced_after_the_first_left == [True]
    assert os.path.samestat(os.fstat(2), before)
