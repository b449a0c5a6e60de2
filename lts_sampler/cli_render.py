"""The ``render`` verb: arguments → sources, layers and settings → a kit, and its summary."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from lts_sampler.errors import LtsError
from lts_sampler.kit import make_kit, rerender
from lts_sampler.model import ModelBundle, resolve_bundle
from lts_sampler.morph import parse_alphas, parse_curve, parse_weights
from lts_sampler.phase import QUALITY_ITERATIONS, resolve_backend
from lts_sampler.render import Layer, RenderSettings, Source

DEMO_DIR = Path(__file__).resolve().parent / "demo"
DEMO_SOURCES = ("bass_thick_c.flac", "ambi_choir.flac")
DEMO_SECONDS = 1.5


def per_source(text: str | None, n: int, what: str) -> list[float | None]:
    """``"0.5"`` (all sources) or ``"0.5,0,1"`` (one each) → n values in seconds."""
    if text is None:
        return [None] * n
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise LtsError(f"cannot read {what} {text!r}; give seconds, one value or one per source (e.g. 0.5,0)") from None
    if len(values) not in (1, n) or any(v < 0 or v != v for v in values):
        raise LtsError(f"{what} {text!r}: give one value or {n} (one per source), none negative")
    return values * n if len(values) == 1 else values


def _layers(args: argparse.Namespace, n_sources: int) -> list:
    chosen = [o for o in ("alphas", "curve", "weights") if getattr(args, o) is not None]
    if len(chosen) > 1:
        raise LtsError(f"choose one of --alphas, --curve, --weights (got {', '.join('--' + c for c in chosen)})")
    if args.curve is not None:
        return [Layer(curve=tuple(parse_curve(args.curve)))]
    if args.weights is not None:
        return [Layer(weights=tuple(w)) for w in parse_weights(args.weights, n_sources)]
    return [Layer(alpha=a) for a in parse_alphas(args.alphas or "-0.5:1.5:0.25")]


def root_note(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    import librosa

    try:
        return int(librosa.note_to_midi(text))
    except librosa.ParameterError:
        raise LtsError(f"cannot read root note {text!r}; give a MIDI number (60) or a note name (C4)") from None


def render(args: argparse.Namespace) -> int:
    """`lts-sampler render`: a kit from sources, from the demo pair, or again from a kit.json."""
    console = Console(stderr=True, highlight=False)
    started = time.monotonic()
    columns = (TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # Off the terminal a bar would only leave an empty line before the summary or the error.
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("loading", total=None)

        def advance(done: int, total: int, label: str) -> None:
            progress.update(task, completed=done, total=total, description=label)

        if args.from_manifest:
            manifest = rerender(args.from_manifest, args.out, device=args.device, progress=advance)
            out = Path(args.out) if args.out else Path(args.from_manifest).resolve().parent
            provider = manifest["model"]["name"]
        else:
            if args.demo and args.sources:
                raise LtsError("give sources or --demo, not both")
            paths = [DEMO_DIR / name for name in DEMO_SOURCES] if args.demo else [Path(p) for p in args.sources]
            if len(paths) < 2:
                raise LtsError("give two or more sources: lts-sampler render A.wav B.wav -o kits/NAME (or --demo)")
            offsets = per_source(args.offset, len(paths), "--offset")
            durations = per_source(args.duration or (str(DEMO_SECONDS) if args.demo else None), len(paths), "--duration")
            for path in paths:
                if not path.is_file():
                    raise LtsError(f"source {path} does not exist; check the path")
            sources = [Source(p, o or 0.0, d) for p, o, d in zip(paths, offsets, durations)]
            layers = _layers(args, len(sources))
            n_iter = QUALITY_ITERATIONS[args.quality] if args.n_iter is None else args.n_iter
            if args.round_robins < 1 or n_iter < 0:
                raise LtsError("--round-robins must be at least 1 and --n-iter at least 0")
            settings = RenderSettings(n_iter=n_iter, normalize=not args.no_normalize, trim=args.trim,
                                      round_robins=args.round_robins, seed=args.seed)
            out = Path(args.out or ("kits/demo" if args.demo else f"kits/{paths[0].stem}-{paths[1].stem}"))
            bundle = ModelBundle.load(resolve_bundle(args.model), device=args.device)
            provider = bundle.provider
            manifest = make_kit(bundle, sources, layers, settings, out, mode=args.mode,
                                root=root_note(args.root), progress=advance)
    seconds = time.monotonic() - started
    summary = _summary(manifest, out, seconds, provider)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(summary, console)
    return 0


def _summary(manifest: dict, out: Path, seconds: float, provider: str) -> dict:
    out = out.resolve()
    regions = manifest["regions"]
    keys = sorted({r["key"] for r in regions if "key" in r})
    return {
        "kit": str(out),
        "sfz": str(out / f"{manifest['name']}.sfz"),
        "mode": manifest["mode"],
        "model": manifest["model"]["name"],
        "provider": provider,
        "samples": [{"file": f"samples/{r['sample']}", **{k: v for k, v in r.items() if k != "sample"}} for r in regions],
        "keys": [keys[0], keys[-1]] if keys else [0, 127],
        "root": manifest["root"],
        "seconds": round(seconds, 2),
    }


def _print_summary(summary: dict, console) -> None:
    import librosa

    low, high = summary["keys"]
    if summary["mode"] == "keys":
        where = f"keys {librosa.midi_to_note(low, unicode=False)}–{librosa.midi_to_note(high, unicode=False)} ({low}–{high}), one sample a key"
    else:
        where = (f"every key, centred on {librosa.midi_to_note(summary['root'], unicode=False)} ({summary['root']}); "
                 "the mod wheel (CC1) morphs between the layers")
    console.print(f"[bold]{summary['kit']}[/bold]")
    console.print(f"  {len(summary['samples'])} samples, {summary['mode']} mode: {where}")
    console.print(f"  load {summary['sfz']} in any SFZ player (sfizz, Sforzando, Decent Sampler …)")
    console.print(f"  {summary['model']} on {summary['provider']}, {summary['seconds']:.1f} s")
