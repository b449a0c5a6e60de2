"""The ``lts-sampler`` command. A thin face over the library: parse, call, report.

User mistakes (LtsError) become one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

from lts_sampler import __version__
from lts_sampler.core.errors import BadValue, LtsError
from lts_sampler.core.interrupts import catching_interrupts, raise_if_interrupted
from lts_sampler.playing.midi_ports import APIS

TRAIN_EXTRA_HINT = (
    "needs the training extra (torch, onnx export): pip install 'lts-sampler[train]' "
    "(in a checkout: pip install -e '.[train]')"
)


def _require_torch(verb: str) -> None:
    """Refuse, in one line, a training verb when torch is not installed (without importing it)."""
    try:
        found = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise LtsError(f"`lts-sampler {verb}` {TRAIN_EXTRA_HINT}")


def _console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def cmd_train(args: argparse.Namespace) -> int:
    _require_torch("train")
    from lts_sampler.training.train import TrainConfig, train

    if args.data is None and not args.resume:
        raise LtsError("give the folder of audio to train on: lts-sampler train DATA -o RUN")
    options = {k: getattr(args, k) for k in (
        "arch", "latent_dim", "hidden", "beta", "lr", "batch_size", "epochs", "max_minutes", "patience",
        "eval_interval", "shift_bins", "gain_db", "seed", "device", "heldout_list", "cache_dir", "workers",
    )}
    cfg = TrainConfig(data=args.data or "", out=args.out, **{k: v for k, v in options.items() if v is not None})
    train(cfg, resume=args.resume, console=_console())
    print(Path(args.out).resolve())
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    _require_torch("export")
    from lts_sampler.training.onnx_export import export_bundle

    info = export_bundle(
        args.run, args.out, name=args.name, dataset_name=args.dataset_name, licence=args.licence,
        evaluate=not args.no_evaluate, console=_console(),
    )
    parity = info["metrics"]["export_parity"]
    _console().print(
        f"wrote {args.out}: onnxruntime matches torch within {max(parity['mu'], parity['magnitude']):.1e} "
        f"of the output scale on {parity['frames']} frames",
    )
    heldout = info["metrics"].get("heldout")
    if heldout:
        m, i = heldout["mean"]["model"], heldout["mean"]["ideal"]
        _console().print(f"held-out: SC {m['sc']:.3f}, LSD {m['lsd_db']:.2f} dB (ideal {i['sc']:.3f}, {i['lsd_db']:.2f} dB)")
    print(Path(args.out).resolve())
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from lts_sampler.synthesis.audio import find_audio_files
    from lts_sampler.synthesis.evaluate import evaluate_bundle, format_table, heldout_files
    from lts_sampler.synthesis.model import ModelBundle, resolve_bundle

    bundle = ModelBundle.load(resolve_bundle(args.model), device=args.device)
    data = Path(args.data)
    if args.all or data.is_file():
        files = [data] if data.is_file() else find_audio_files(data)
    else:
        files = heldout_files(bundle, data)
    console = _console()
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("evaluating", total=len(files))
        result = evaluate_bundle(
            bundle, files, seconds=args.seconds, n_iter=args.n_iter,
            progress=lambda done, total, name: progress.update(task, completed=done, description=name),
        )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{data} ({bundle.provider})")
        print(format_table(result))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from lts_sampler.faces import doctor
    data = doctor.report()
    print(json.dumps(data, indent=2) if args.json else doctor.format_report(data))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from lts_sampler.synthesis.model import ModelBundle, find_bundles

    rows = []
    for path in find_bundles():
        try:
            bundle = ModelBundle.load(path, device="cpu")
        except LtsError as err:
            rows.append({"path": str(path), "error": str(err)})
            continue
        heldout = bundle.info.get("metrics", {}).get("heldout", {}).get("mean", {}).get("model", {})
        rows.append({"name": bundle.name, "path": str(path), "latent_dim": bundle.latent_dim,
                     "sample_rate": bundle.spec.sample_rate, "heldout": heldout})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no model bundles found (looked in the package and $LTS_SAMPLER_MODELS)")
    for row in rows:
        if "error" in row:
            print(f"{row['path']}: unusable: {row['error']}")
            continue
        quality = f"held-out SC {row['heldout']['sc']:.3f}, LSD {row['heldout']['lsd_db']:.2f} dB" if row["heldout"] else "not evaluated"
        print(f"{row['name']:<20} latent {row['latent_dim']:<4} {row['sample_rate']} Hz  {quality}  {row['path']}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from lts_sampler.faces.cli_render import render

    return render(args)


def cmd_batch(args: argparse.Namespace) -> int:
    from lts_sampler.faces.cli_batch import batch

    return batch(args)


def cmd_render_midi(args: argparse.Namespace) -> int:
    from lts_sampler.faces.cli_play import render_midi_command

    return render_midi_command(args)


def cmd_play(args: argparse.Namespace) -> int:
    from lts_sampler.faces.cli_play import play_command

    return play_command(args)


def cmd_bridge(args: argparse.Namespace) -> int:
    from lts_sampler.faces.cli_play import bridge_command

    return bridge_command(args)


def cmd_tui(args: argparse.Namespace) -> int:
    from lts_sampler.faces.tui.app import tui_command

    return tui_command(args)


def _live_options(p: argparse.ArgumentParser) -> None:
    """The MIDI system, audio device, polyphony and block size options of play and bridge."""
    p.add_argument("--midi-api", choices=list(APIS), help="MIDI system (default: on Linux ALSA where available, "
                   "else JACK; CoreMIDI on macOS; Windows MM on Windows)")
    p.add_argument("--output", metavar="DEVICE", help="audio output device (name or part of it; default: the system's)")
    p.add_argument("--voices", type=int, default=32, help="polyphony; the oldest voice is stolen (default 32)")
    p.add_argument("--block", type=int, default=256, help="audio block in frames (default 256)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lts-sampler",
        description="Latent Timbre Synthesis sampler: train VAEs on audio, export them to ONNX, "
        "render timbre-morphing kits.",
    )
    parser.add_argument("--version", action="version", version=f"lts-sampler {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND")

    p = verbs.add_parser("train", help="train a VAE on a folder of audio (needs the train extra)",
                         description="Train a VAE on every audio file under DATA; writes checkpoints, "
                         "a loss plot and metrics to the run folder.")
    p.add_argument("data", nargs="?", metavar="DATA", help="folder of audio (recursive)")
    p.add_argument("-o", "--out", required=True, metavar="RUN", help="run folder, e.g. runs/mine")
    p.add_argument("--arch", choices=["residual", "lts"], help="model: residual (default) or lts (the published baseline)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-minutes", type=float, help="stop after this much wall time")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--hidden", type=int, help="width of hidden layers")
    p.add_argument("--beta", type=float, help="weight of the KL term")
    p.add_argument("--patience", type=int, help="validation passes without improvement before stopping")
    p.add_argument("--eval-interval", type=int, help="steps between validation passes and checkpoints")
    p.add_argument("--shift-bins", type=int, help="augmentation: shift frames by up to this many bins")
    p.add_argument("--gain-db", type=float, help="augmentation: random gain within ± this many dB")
    p.add_argument("--seed", type=int, help="makes the run repeatable (split, init, batches)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--heldout-list", metavar="FILE", help="names of the files to hold out, one a line")
    p.add_argument("--cache-dir", metavar="DIR", help="feature cache (default ~/.cache/lts-sampler/cqt)")
    p.add_argument("--workers", type=int, help="analysis processes (default: one per core)")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN from its last checkpoint")
    p.set_defaults(func=cmd_train)

    p = verbs.add_parser("export", help="export a training run to an ONNX model bundle (needs the train extra)",
                         description="Export the best weights of a run as a model bundle, check onnxruntime "
                         "against torch and measure the held-out files.")
    p.add_argument("run", metavar="RUN")
    p.add_argument("-o", "--out", required=True, metavar="MODEL", help="bundle folder, e.g. models/mine")
    p.add_argument("--name", help="model name (default: the folder's name)")
    p.add_argument("--dataset-name", help="how to describe the training data")
    p.add_argument("--licence", default="unknown", help="licence of the training data")
    p.add_argument("--no-evaluate", action="store_true", help="skip the held-out evaluation")
    p.set_defaults(func=cmd_export)

    p = verbs.add_parser("evaluate", help="measure a model's reconstruction on audio",
                         description="Encode, decode and reconstruct phase (Griffin–Lim, 32 iterations) for "
                         "the model's held-out files in DATA (or every file with --all); print SC and LSD "
                         "against the original, with the ideal row (no model).")
    p.add_argument("model", metavar="MODEL", help="bundle folder or model name")
    p.add_argument("data", metavar="DATA", help="folder of audio, or one file")
    p.add_argument("--all", action="store_true", help="every audio file in DATA, not just the held-out ones")
    p.add_argument("--seconds", type=float, default=4.0, help="excerpt from each file's start (default 4)")
    p.add_argument("--n-iter", type=int, default=32, help="Griffin–Lim iterations (default 32)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = verbs.add_parser("render", help="render a kit of samples that morph between sources",
                         description="Encode the sources, mix their latent trajectories for each α (or weight "
                         "vector, or α curve), decode, reconstruct phase and write an SFZ kit with 24-bit WAVs "
                         "and a kit.json that reproduces it.")
    p.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="audio files: A B (α mixes), A B C D (--grid) or more (--weights); a folder or a quoted glob "
                   "of notes is a set of notes, one bank per pitch")
    p.add_argument("-o", "--out", metavar="KIT", help="kit folder (default kits/A-B, or kits/demo)")
    p.add_argument("--demo", action="store_true", help="render the CC0 demo clips shipped with lts-sampler (two; four with --grid)")
    p.add_argument("--from", dest="from_manifest", metavar="KIT_JSON", help="render a kit again from its kit.json")
    p.add_argument("--alphas", metavar="SPEC", help="start:stop:step or a list (default -0.5:1.5:0.25)")
    p.add_argument("--curve", metavar="T:A,…", help="one sample whose α follows breakpoints, e.g. 0:0,1:1")
    p.add_argument("--weights", metavar="W,…;…", help="weight vectors for N sources, one per sample, e.g. 1,0,0;0,0.5,0.5")
    p.add_argument("--grid", type=int, nargs="?", const=5, metavar="N",
                   help="a timbre pad: four sources at the corners, N × N cells (default 5) on two controllers")
    p.add_argument("--grid-range", metavar="LO:HI", default="0:1",
                   help="corner positions of the outer cells, e.g. -0.25:1.25 to extrapolate (default 0:1)")
    p.add_argument("--cc-x", type=int, default=1, metavar="CC", help="controller moving the pad from A to B (default 1, the mod wheel)")
    p.add_argument("--cc-y", type=int, default=2, metavar="CC", help="controller moving the pad from A to C (default 2)")
    p.add_argument("--mode", choices=["keys", "morph", "grid"],
                   help="keys: a sample a key (default); morph: layers on the mod wheel; grid: as --grid")
    p.add_argument("--root", default="60",
                   help="first key (keys) or pitch the sources sound at (morph, grid): MIDI number or name (default 60 = C4)")
    p.add_argument("--round-robins", type=int, default=1, metavar="K", help="K variations a sample, drawn from the latent distribution")
    p.add_argument("--offset", metavar="S[,S…]", help="excerpt start in seconds, one for all or one per source")
    p.add_argument("--duration", metavar="S[,S…]", help="excerpt length in seconds, one for all or one per source")
    p.add_argument("--quality", choices=["draft", "normal", "high"], default="normal",
                   help="phase reconstruction: draft (8 iterations at most), normal (32), high (128)")
    p.add_argument("--n-iter", type=int, help="phase reconstruction iterations, overriding --quality")
    p.add_argument("--no-normalize", action="store_true", help="keep the decoded level, lowered only where it would clip (default: peaks at −1 dBFS)")
    p.add_argument("--trim", action="store_true", help="cut trailing silence")
    p.add_argument("--seed", type=int, default=0, help="seed of phase reconstruction and round robins")
    p.add_argument("--loop", metavar="auto|off", help="auto: a sustain loop in every sample with room for one, so held "
                   "notes sound on; off: samples play once (default: auto, off in keys kits)")
    p.add_argument("--model", metavar="MODEL", help="bundle folder or name (default lts-default)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where the model and phase reconstruction run: auto (a GPU when onnxruntime-gpu or CuPy finds one), cpu, cuda")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_render)

    p = verbs.add_parser("batch", help="render every kit of a plan file",
                         description="Render every [[kit]] of PLAN (TOML: render's options by their long names, "
                         "sources = [...], out = \"...\"; an optional [defaults] table). Kits already rendered from "
                         "the same entry are skipped; a kit that fails is reported and the others go on.")
    p.add_argument("plan", metavar="PLAN", help="plan file (.toml)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where the model and phase reconstruction run in this process (as for render); "
                   "--workers and --cluster workers render on their CPUs")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N", help="render the samples in N local processes "
                       "(default: this process, a thread per core)")
    where.add_argument("--cluster", metavar="ADDRESS", help="render the samples on a Dask cluster, e.g. "
                       "tcp://127.0.0.1:8786 (pip install 'lts-sampler[cluster]'; trusted networks only, or "
                       "Dask's TLS)")
    p.add_argument("--json", action="store_true", help="print the counts and each kit's outcome as JSON")
    p.set_defaults(func=cmd_batch)

    p = verbs.add_parser("render-midi", help="play a MIDI file through a kit into a WAV file, offline",
                         description="Render SONG (a standard MIDI file, tempo changes honoured) through the kit "
                         "in KIT; deterministic, with a tail for releases.")
    p.add_argument("kit", metavar="KIT", help="kit folder (with kit.json), e.g. kits/demo")
    p.add_argument("song", metavar="SONG", help="MIDI file (.mid)")
    p.add_argument("-o", "--out", required=True, metavar="WAV", help="output WAV file (24-bit)")
    p.add_argument("--voices", type=int, default=32, help="polyphony; the oldest voice is stolen (default 32)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_render_midi)

    p = verbs.add_parser("play", help="play a kit from a MIDI keyboard",
                         description="Audition KIT live: MIDI in from a keyboard, audio out through PortAudio.")
    p.add_argument("kit", metavar="KIT", help="kit folder (with kit.json), e.g. kits/demo")
    p.add_argument("--midi-in", metavar="PORT", help="MIDI input port (name or part of it; default: the first)")
    _live_options(p)
    p.set_defaults(func=cmd_play)

    p = verbs.add_parser("bridge", help="a MIDI port a DAW can play, with the mod wheel morphing timbre",
                         description="Open a virtual MIDI input port that a DAW track plays; program change N "
                         "selects the N-th kit in DIR; kits rendered again on disk are picked up within a moment.")
    p.add_argument("--name", default="LTS Sampler", help="name of the MIDI port and audio client")
    p.add_argument("--kits", default="kits", metavar="DIR", help="folder of kits (default kits/)")
    p.add_argument("--midi-in", metavar="PORT", help="play an existing MIDI port (name or part of it) instead of "
                   "opening a virtual one, e.g. a loopback port on Windows")
    _live_options(p)
    p.set_defaults(func=cmd_bridge)

    p = verbs.add_parser("tui", help="the terminal UI: source pairs, rendering, playing kits (also: no arguments)",
                         description="Edit a library of source pairs saved in SESSION (JSON, saved as you type), "
                         "render their banks as kits and play them from the computer keys or a MIDI keyboard. "
                         "F1 in the app shows the keys.")
    p.add_argument("session", nargs="?", default="lts-session.json", metavar="SESSION",
                   help="session file (default lts-session.json; created when missing)")
    p.add_argument("--no-sound", action="store_true", help="open no audio output nor MIDI port (e.g. over SSH)")
    p.set_defaults(func=cmd_tui)

    p = verbs.add_parser("doctor", help="report versions, ONNX providers, audio outputs and MIDI ports")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    p = verbs.add_parser("models", help="list the model bundles found")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)
    return parser


VALUE_MAY_START_WITH_MINUS = ("--alphas", "--curve", "--weights", "--offset", "--duration", "--grid-range")


def join_signed_values(argv: list[str]) -> list[str]:
    """``--alphas -0.5:1.5:0.25`` → ``--alphas=-0.5:1.5:0.25``: argparse would take the value
    for an option of its own."""
    joined, i = [], 0
    while i < len(argv):
        if argv[i] in VALUE_MAY_START_WITH_MINUS and i + 1 < len(argv):
            joined.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            joined.append(argv[i])
            i += 1
    return joined


def flag(err: BadValue) -> str:
    """The command line's name for the value ``err`` is about: its flag, or the source."""
    from lts_sampler.core.kitformat import SOURCE_LABELS  # here: it loads numpy, which --help needs not

    if err.field == "sources":
        return "sources" if err.source is None else f"source {SOURCE_LABELS[err.source]}"
    return "-o" if err.field == "out" else "--" + err.field.replace("_", "-")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv and sys.stdin.isatty() and sys.stdout.isatty():
        argv = ["tui"]  # in a terminal, no arguments open the terminal UI
    args = parser.parse_args(join_signed_values(argv))
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        with catching_interrupts():
            status = args.func(args)
            raise_if_interrupted()  # one Python dropped on the way
        return status
    except BadValue as err:
        print(f"lts-sampler: error: {err.worded(flag(err))}", file=sys.stderr)
        return 2
    except LtsError as err:
        print(f"lts-sampler: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lts-sampler: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
