"""The bad-input corpus: every case below, made at test time, is refused by the CLI with exit
status 2 and exactly one stderr line ``lts-sampler: error: …`` that names what was wrong and
what to do — no traceback — and nothing is written: no output file or folder, no hidden
temporary folder left behind, and the kit already at the target byte-for-byte as it was.

Decisions the table pins down:

- A **silent source** (the excerpt peaks below −80 dBFS) is refused: it has no timbre to
  morph, and it would not render silence either — the default model decodes it to a faint
  residue (magnitudes ~3e-6) that peak normalisation raises to −1 dBFS, an artefact a producer
  would only find by listening. The line says "source X is silent" and to pick a file or an
  ``--offset`` with sound.
- **Long files** are fine when an excerpt is asked for: only the excerpt is read (seek, then
  read ``--duration``). An excerpt longer than ``MAX_SOURCE_S`` (60 s; by default a source is
  read to its end) is refused up front, from the file's frame count, before any audio is read,
  with a line asking for ``--duration``.
- 8-bit, 96 kHz and 6-channel files are not bad input: they are mixed down and resampled, and
  :func:`test_unusual_but_valid_files_render` shows they render.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
from onnx.external_data_helper import set_external_data
from support.bundles import tiny_encoder, write_bundle
from support.cli import ROOT, assert_one_line_error, lts

from lts_sampler.core.native import quiet_native
from lts_sampler.faces.cli import main
from lts_sampler.synthesis.model import default_bundle_path

GOOD = str(ROOT / "lts_sampler" / "demo" / "bass_thick_c.flac")
RATE = 44100


def tone(seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def two_hour_wav(path: Path, *, rate: int = 8000, tone_at: float = 3600.0) -> str:
    """A 2-hour 16-bit mono WAV made cheaply: a header and a sparse file of silence, with one
    second of tone written at ``tone_at`` seconds."""
    n = 2 * 3600 * rate
    header = b"RIFF" + struct.pack("<I", 36 + 2 * n) + b"WAVE" + b"fmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, rate, 2 * rate, 2, 16) + b"data" + struct.pack("<I", 2 * n)
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + 2 * n)
        f.seek(len(header) + 2 * int(tone_at * rate))
        f.write((tone(1.0, rate) * 32767).astype("<i2").tobytes())
    return str(path)


def midi_file(path: Path, notes: bool = True) -> str:
    midi = mido.MidiFile()
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500000))
    if notes:
        track += [mido.Message("note_on", note=60, velocity=100), mido.Message("note_off", note=60, time=480)]
    midi.save(path)
    return str(path)


class Case:
    """Where a case makes its inputs (``src/``) and where the command must not write:
    ``out/mine`` holds a previous kit, ``out/song.wav`` must not appear."""

    def __init__(self, tmp: Path, request: pytest.FixtureRequest):
        self.tmp, self.request = tmp, request
        self.src = tmp / "src"
        self.src.mkdir()
        self.kit = tmp / "out" / "mine"
        (self.kit / "samples").mkdir(parents=True)
        (self.kit / "mine.sfz").write_text("<region> sample=old.wav\n")
        (self.kit / "samples" / "old.wav").write_bytes(b"old sample")
        (self.kit / "kit.json").write_text("{}")

    # --- commands ---------------------------------------------------------------------------
    def render(self, *args: str, duration: str | None = "0.3", out: str | None = None) -> list[str]:
        return ["render", *args, "-o", out or str(self.kit), "--n-iter", "0", *(["--duration", duration] if duration else [])]

    def render_midi(self, kit: str, song: str, out: str | None = None) -> list[str]:
        return ["render-midi", kit, song, "-o", out or str(self.kit.parent / "song.wav")]

    def play(self, *args: str) -> list[str]:
        """``play`` the demo kit through JACK, with a keyboard port open (so that ports exist)."""
        self.request.getfixturevalue("jack_server")
        keyboard = mido.Backend("mido.backends.rtmidi/UNIX_JACK").open_output(
            "lts-test keyboard", client_name="lts-test keyboard")
        self.request.addfinalizer(keyboard.close)
        return ["play", self.real_kit(), "--midi-api", "jack", *args]

    # --- inputs -----------------------------------------------------------------------------
    def file(self, name: str, data: bytes | str) -> str:
        path = self.src / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return str(path)

    def wav(self, name: str, y: np.ndarray, rate: int = RATE, subtype: str = "FLOAT") -> str:
        sf.write(self.src / name, y, rate, subtype=subtype)
        return str(self.src / name)

    def note_set(self, folder: str, names: list[str], y: np.ndarray | None = None) -> str:
        """A folder of sound files of those names (a 220 Hz tone unless ``y``): a note set."""
        (self.src / folder).mkdir()
        for name in names:
            self.wav(f"{folder}/{name}", tone(0.5) if y is None else y)
        return str(self.src / folder)

    def cut_wav(self, name: str, size: int) -> str:
        """A 16-bit WAV of 1 s of tone cut to its first ``size`` bytes."""
        self.wav(name, tone(1.0), subtype="PCM_16")
        data = (self.src / name).read_bytes()[:size]
        return self.file(name, data)

    def bundle(self, change: Callable[[Path], None]) -> list[str]:
        """``--model`` a tiny bundle, altered by ``change(folder)``."""
        folder = write_bundle(self.src / "model")
        change(folder)
        return ["--model", str(folder)]

    def manifest(self, **changes) -> str:
        """A kit.json that a render would write, with ``changes`` on top."""
        source = {"path": GOOD, "sha256": hashlib.sha256(Path(GOOD).read_bytes()).hexdigest(), "offset": 0.0, "duration": 0.3}
        model = json.loads((default_bundle_path() / "model.json").read_text())
        data = {"format": "lts-kit/1", "name": "k",
                "model": {"name": model["name"], "path": str(default_bundle_path()), "sha256": model["sha256"]},
                "sources": [source, source], "layers": [{"alpha": 0.0}], "mode": "keys", "root": 60,
                "settings": {"n_iter": 0, "normalize": True, "trim": False, "round_robins": 1, "seed": 0}, **changes}
        return self.file("kit.json", json.dumps(data))

    def real_kit(self, change: Callable[[dict], object] | None = None) -> str:
        """A copy of the demo keys kit, its kit.json altered by ``change(manifest)``."""
        folder = self.src / "kit"
        if not folder.exists():
            shutil.copytree(self.request.getfixturevalue("keys_kit"), folder)
        if change is not None:
            manifest = json.loads((folder / "kit.json").read_text())
            text = change(manifest)
            (folder / "kit.json").write_text(text if isinstance(text, str) else json.dumps(manifest))
        return str(folder)


def _rehash(folder: Path, name: str, data: bytes) -> None:
    """Replace a bundle file and update its sha256, so that only the file itself is wrong."""
    (folder / name).write_bytes(data)
    info = json.loads((folder / "model.json").read_text())
    info["sha256"][name] = hashlib.sha256(data).hexdigest()
    (folder / "model.json").write_text(json.dumps(info))


def _edit_model_json(folder: Path, change: Callable[[dict], None]) -> None:
    info = json.loads((folder / "model.json").read_text())
    change(info)
    (folder / "model.json").write_text(json.dumps(info))


def _external_data_outside(folder: Path) -> None:
    encoder = tiny_encoder(384, 8)
    tensor = encoder.graph.initializer[0]
    (folder.parent / "outside.bin").write_bytes(tensor.raw_data)
    set_external_data(tensor, location="../outside.bin")
    tensor.ClearField("raw_data")
    write_bundle(folder, encoder=encoder)


def _block_folder(c: Case) -> str:
    (c.tmp / "a-file").write_text("not a folder")
    return str(c.tmp / "a-file")


def _not_a_kit_folder(c: Case) -> str:
    (c.tmp / "my-samples").mkdir()
    (c.tmp / "my-samples" / "kick.wav").write_bytes(b"not to be lost")
    return str(c.tmp / "my-samples")


# id: (arguments made from a Case, words the error line must hold)
CASES: dict[str, tuple[Callable[[Case], list[str]], tuple[str, ...]]] = {
    # --- sources ------------------------------------------------------------------------------
    "missing source": (lambda c: c.render(GOOD, str(c.src / "nope.wav")), ("no such file", "check the path")),
    "text named .wav": (lambda c: c.render(GOOD, c.file("text.wav", "hello, I am text\n" * 100)), ("cannot read audio file", "use a wav")),
    "empty file": (lambda c: c.render(GOOD, c.file("empty.wav", b"")), ("cannot read audio file",)),
    "WAV header cut short": (lambda c: c.render(GOOD, c.cut_wav("cut.wav", 30)), ("cannot read audio file", "cut.wav")),
    "WAV cut inside its data": (lambda c: c.render(GOOD, c.cut_wav("cut.wav", 44 + 800)), ("only 9 ms", "at least 23 ms")),
    "0.01 s file": (lambda c: c.render(GOOD, c.wav("click.wav", tone(0.01))), ("only 10 ms", "at least 23 ms")),
    "NaN samples": (lambda c: c.render(GOOD, c.wav("nan.wav", np.full(RATE, np.nan, np.float32))), ("NaN or infinite", "re-export")),
    "Inf sample": (lambda c: c.render(GOOD, c.wav("inf.wav", np.where(np.arange(RATE) == 99, np.inf, tone(1.0)))), ("NaN or infinite",)),
    "all-silent file": (lambda c: c.render(GOOD, c.wav("silent.wav", np.zeros(RATE, np.float32))), ("is silent", "--offset")),
    "silent excerpt": (lambda c: c.render(GOOD, two_hour_wav(c.src / "long.wav"), "--offset", "0,10"), ("is silent from 10 s", "--offset")),
    "2-hour file, no --duration": (lambda c: c.render(GOOD, two_hour_wav(c.src / "long.wav"), duration=None), ("7200 s", "60 s", "--duration")),
    "2-hour file, --duration 120": (lambda c: c.render(GOOD, two_hour_wav(c.src / "long.wav"), duration="120"), ("120 s", "--duration")),
    "excerpt past the end": (lambda c: c.render(GOOD, GOOD, "--offset", "0,30"), ("no audio at offset 30", "inside the file")),
    "one source": (lambda c: c.render(GOOD), ("two sources or more, not 1",)),
    # --- option syntax --------------------------------------------------------------------------
    "α without a step": (lambda c: c.render(GOOD, GOOD, "--alphas", "0:1"), ("--alphas '0:1'", "start:stop:step")),
    "α step 0": (lambda c: c.render(GOOD, GOOD, "--alphas", "0:1:0"), ("--alphas '0:1:0'", "start:stop:step")),
    "α NaN": (lambda c: c.render(GOOD, GOOD, "--alphas", "0,nan"), ("finite numbers",)),
    "α and curve": (lambda c: c.render(GOOD, GOOD, "--alphas", "0,1", "--curve", "0:0,1:1"), ("--curve", "only one of them")),
    "curve syntax": (lambda c: c.render(GOOD, GOOD, "--curve", "0:0,0.5"), ("--curve '0:0,0.5'", "0:0,1:1")),
    "curve times": (lambda c: c.render(GOOD, GOOD, "--curve", "0.5:0,1:1"), ("times must rise from 0 to 1",)),
    "weights syntax": (lambda c: c.render(GOOD, GOOD, GOOD, "--weights", "1,0,0;x"), ("--weights", "one vector per sample")),
    "weights sum": (lambda c: c.render(GOOD, GOOD, GOOD, "--weights", "0.5,0.6,0"), ("summing to 1",)),
    "grid of two sources": (lambda c: c.render(GOOD, GOOD, "--grid"), ("four sources A B C D, not 2",)),
    "grid of three sources": (lambda c: c.render(GOOD, GOOD, GOOD, "--grid"), ("four sources A B C D, not 3", "weights")),
    "grid of five sources": (lambda c: c.render(*[GOOD] * 5, "--grid", "3"), ("four sources A B C D, not 5",)),
    "grid of 1 × 1": (lambda c: c.render(*[GOOD] * 4, "--grid", "1"), ("--grid 1", "2 to 17")),
    "grid of 18 × 18": (lambda c: c.render(*[GOOD] * 4, "--grid", "18"), ("--grid 18", "2 to 17")),
    "grid range backwards": (lambda c: c.render(*[GOOD] * 4, "--grid", "--grid-range", "1:0"), ("LOW < HIGH",)),
    "grid on the sustain pedal": (lambda c: c.render(*[GOOD] * 4, "--grid", "--cc-y", "64"), ("--cc-y 64",)),
    "grid with α values": (lambda c: c.render(*[GOOD] * 4, "--grid", "--alphas", "0,1"), ("--alphas", "leave it out")),
    "note set of noise": (lambda c: c.render(c.note_set("hits", ["hit_a.wav", "hit_b.wav"],
                                                         np.random.default_rng(0).uniform(-0.5, 0.5, RATE).astype(np.float32)), GOOD),
                          ("no recognisable pitches", "flute_60.wav")),
    "note sets an octave apart and more": (lambda c: c.render(c.note_set("low", ["low_36.wav", "low_C3.wav"]),
                                                              c.note_set("high", ["high_67.wav", "high_84.wav"])),
                                           ("share no pitch within an octave", "C2, C3", "G4, C6")),
    "note set with one pitch twice": (lambda c: c.render(c.note_set("twice", ["a_60.wav", "b_C4.wav"]), GOOD),
                                      ("two notes at C4 (60)", "keep one")),
    "note sets in keys mode": (lambda c: c.render(c.note_set("s", ["s_48.wav", "s_60.wav"]), GOOD, "--mode", "keys"),
                               ("--mode 'keys'", "several pitches", "morph or grid")),
    "duration syntax": (lambda c: c.render(GOOD, GOOD, duration="abc"), ("--duration 'abc'", "seconds")),
    "negative offset": (lambda c: c.render(GOOD, GOOD, "--offset", "-1"), ("--offset '-1'", "0 or more")),
    "round robins 0": (lambda c: c.render(GOOD, GOOD, "--round-robins", "0"), ("--round-robins 0", "1 or more")),
    "unknown loop": (lambda c: c.render(GOOD, GOOD, "--loop", "forever"), ("--loop 'forever'", "auto", "off")),
    "root note H9": (lambda c: c.render(GOOD, GOOD, "--root", "H9"), ("--root 'H9'", "C4")),
    "keys past 127": (lambda c: c.render(GOOD, GOOD, "--root", "125"), ("past MIDI note 127",)),
    # --- output -------------------------------------------------------------------------------
    "a file where the parent folder should be": (
        lambda c: c.render(GOOD, GOOD, out=_block_folder(c) + "/kit"), ("-o", "not a writable folder")),
    "kit named ..": (lambda c: c.render(GOOD, GOOD, out=str(c.kit) + "/.."), ("-o", "kits/my-kit")),
    "a folder that is not a kit": (
        lambda c: c.render(GOOD, GOOD, out=_not_a_kit_folder(c)), ("not a kit", "-o")),
    # --- model bundles ----------------------------------------------------------------------------
    "unknown model": (lambda c: c.render(GOOD, GOOD, "--model", "no-such-model"), ("no model bundle", "known model")),
    "corrupt ONNX": (lambda c: c.render(GOOD, GOOD, *c.bundle(lambda f: _rehash(f, "encoder.onnx", b"\x08\x07 not protobuf" * 10))),
                     ("encoder.onnx", "re-export")),
    "truncated ONNX": (lambda c: c.render(GOOD, GOOD, *c.bundle(lambda f: _rehash(f, "decoder.onnx", (f / "decoder.onnx").read_bytes()[:200]))),
                       ("decoder.onnx", "re-export")),
    "n_bins in model.json vs the graph": (
        lambda c: c.render(GOOD, GOOD, *c.bundle(lambda f: _edit_model_json(f, lambda i: i["audio"].update(n_bins=256)))),
        ("[N, 256]", "re-export")),
    "hash mismatch": (lambda c: c.render(GOOD, GOOD, *c.bundle(lambda f: (f / "decoder.onnx").open("ab").write(b"\0"))),
                      ("sha256 mismatch for decoder.onnx", "copy or re-export")),
    "external data outside the bundle": (lambda c: c.render(GOOD, GOOD, *c.bundle(_external_data_outside)),
                                         ("'../outside.bin' lies outside the bundle folder",)),
    "model.json not JSON": (lambda c: c.render(GOOD, GOOD, *c.bundle(lambda f: (f / "model.json").write_text("{"))),
                            ("model.json is not valid JSON",)),
    # --- kit.json for render --from -----------------------------------------------------------------
    "--from: not JSON": (lambda c: ["render", "--from", c.file("kit.json", "{not json"), "-o", str(c.kit)], ("cannot read kit manifest",)),
    "--from: another format": (lambda c: ["render", "--from", c.manifest(format="x"), "-o", str(c.kit)], ("not an lts-kit/1 manifest",)),
    "--from: model a string": (lambda c: ["render", "--from", c.manifest(model="x"), "-o", str(c.kit)], ("damaged", "model needs")),
    "--from: source without sha256": (lambda c: ["render", "--from", c.manifest(sources=[{"path": GOOD}] * 2), "-o", str(c.kit)],
                                      ("damaged", "each source needs")),
    "--from: layer a string": (lambda c: ["render", "--from", c.manifest(layers=["x"]), "-o", str(c.kit)], ("damaged", "each layer")),
    "--from: unknown setting": (lambda c: ["render", "--from", c.manifest(settings={"bogus": 1}), "-o", str(c.kit)], ("damaged", "settings")),
    "--from: source changed": (
        lambda c: ["render", "--from", c.manifest(sources=[{"path": GOOD, "sha256": "0" * 64, "offset": 0, "duration": None}] * 2),
                   "-o", str(c.kit)], ("source", "changed since the kit was rendered", "sha256 differs")),
    # --- render-midi --------------------------------------------------------------------------------
    "midi: folder without kit.json": (lambda c: c.render_midi(str(c.src), midi_file(c.src / "s.mid")), ("no kit.json",)),
    "midi: kit.json not JSON": (lambda c: c.render_midi(c.real_kit(lambda m: "{"), midi_file(c.src / "s.mid")), ("cannot read kit manifest",)),
    "midi: sample path with ../": (
        lambda c: c.render_midi(c.real_kit(lambda m: m["regions"][0].update(sample="../../x.wav")), midi_file(c.src / "s.mid")),
        ("'../../x.wav', not a file in samples/", "render the kit again")),
    "midi: no regions": (lambda c: c.render_midi(c.real_kit(lambda m: m.update(regions=[])), midi_file(c.src / "s.mid")), ("lists no regions",)),
    "midi: kit mode unknown": (lambda c: c.render_midi(c.real_kit(lambda m: m.update(mode="drums")), midi_file(c.src / "s.mid")), ("damaged", "mode")),
    "midi: song missing": (lambda c: c.render_midi(c.real_kit(), str(c.src / "nope.mid")), ("does not exist",)),
    "midi: song is text": (lambda c: c.render_midi(c.real_kit(), c.file("s.mid", "not midi\n")), ("cannot read MIDI file", "standard MIDI")),
    "midi: empty song": (lambda c: c.render_midi(c.real_kit(), c.file("s.mid", b"")), ("cannot read MIDI file", "ends too early")),
    "midi: truncated song": (lambda c: c.render_midi(c.real_kit(), c.file("s.mid", Path(midi_file(c.src / "s.mid")).read_bytes()[:30])),
                             ("cannot read MIDI file",)),
    "midi: garbage track": (lambda c: c.render_midi(c.real_kit(), c.file("s.mid", b"MThd\x00\x00\x00\x06\x00\x01" + bytes(range(40)))),
                            ("cannot read MIDI file",)),
    "midi: no notes": (lambda c: c.render_midi(c.real_kit(), midi_file(c.src / "s.mid", notes=False)), ("has no notes",)),
    "midi: -o under a file": (lambda c: c.render_midi(c.real_kit(), midi_file(c.src / "s.mid"), _block_folder(c) + "/out.wav"),
                              ("a-file is a file, not a folder", "-o")),
    "midi: -o not .wav": (lambda c: c.render_midi(c.real_kit(), midi_file(c.src / "s.mid"), str(c.kit.parent / "song.mp3")), (".wav",)),
    # --- play (a JACK server: the running one, or a dummy one) ---------------------------------------
    "play: unknown MIDI port": (lambda c: c.play("--midi-in", "no-such-port"), ("no-such-port", "lts-test keyboard")),
    "play: --output no-such-device": (lambda c: c.play("--output", "no-such-device"), ("no-such-device",)),
}


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` (hidden ones included) → (size, mtime ns)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


UNSEEN = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)
"""The warnings an interpreter does not show by default."""


def in_process(capfd: pytest.CaptureFixture, *args: str) -> subprocess.CompletedProcess:
    """``lts-sampler args`` run by the CLI's ``main`` in this process, as :func:`lts` runs it in a
    fresh interpreter but a second sooner: its exit status and output, each Python warning an
    interpreter would show on stderr counted as a line of it."""
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            status = main(list(args))
        except SystemExit as exit:  # argparse's refusals
            status = exit.code
    out, err = capfd.readouterr()
    shown = [f"{w.category.__name__}: {w.message}\n" for w in caught if not issubclass(w.category, UNSEEN)]
    return subprocess.CompletedProcess(args, status, out, err + "".join(shown))


@pytest.mark.parametrize("case", [pytest.param(case, marks=pytest.mark.live) if case.startswith("play:") else case
                                  for case in CASES])
def test_bad_input_is_one_line_and_writes_nothing(case, tmp_path, request, capfd):
    """Run in this process (70 fresh interpreters would take a minute and more), but for the play
    cases, which open JACK and PortAudio."""
    make_args, words = CASES[case]
    c = Case(tmp_path, request)
    args = make_args(c)
    before = _tree(tmp_path)
    result = lts(*args, timeout=120) if args[0] == "play" else in_process(capfd, *args)
    assert_one_line_error(result, *words)
    assert _tree(tmp_path) == before
    assert (c.kit / "mine.sfz").read_text() == "<region> sample=old.wav\n"


def test_unusual_but_valid_files_render(tmp_path):
    """8-bit, 96 kHz and 6-channel files, and a 2-hour file read only as a 0.3 s excerpt
    from its middle: one render of all four (N-source weights)."""
    src = tmp_path / "src"
    src.mkdir()
    sf.write(src / "u8.wav", tone(0.5), RATE, subtype="PCM_U8")
    sf.write(src / "hi.wav", tone(0.5, 96000), 96000, subtype="PCM_24")
    sf.write(src / "six.wav", np.tile(tone(0.5)[:, None], (1, 6)), RATE, subtype="PCM_16")
    sources = [str(src / n) for n in ("u8.wav", "hi.wav", "six.wav")] + [two_hour_wav(src / "long.wav")]
    result = lts("render", *sources, "-o", str(tmp_path / "kit"), "--weights", "0.25,0.25,0.25,0.25",
                 "--offset", "0,0,0,3600.2", "--duration", "0.3", "--n-iter", "0", "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["samples"]) == 1


def test_sources_read_at_once_never_leave_stderr_silenced():
    """Sources are read on several threads, each silencing the C decoders' messages on fd 2
    while it probes its file. Overlapping so, they must give fd 2 back as it was: else the
    error, or the "interrupted", that follows would go nowhere."""
    before = os.fstat(2)
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    silenced_after_the_first_left = []

    def first() -> None:
        with quiet_native():
            first_in.set()
            second_in.wait()
        first_out.set()

    def second() -> None:
        first_in.wait()
        with quiet_native():
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
