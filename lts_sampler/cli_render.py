"""The ``render`` verb: arguments → sources, layers and settings → a kit, and its summary."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import time
from collections.abc import Callable
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
from lts_sampler.grid import Grid, check_corners, parse_range
from lts_sampler.kit import make_kit, rerender, single_bank
from lts_sampler.model import ModelBundle, resolve_bundle
from lts_sampler.morph import parse_alphas, parse_curve, parse_weights
from lts_sampler.phase import QUALITY_ITERATIONS
from lts_sampler.pitches import Bank, is_note_set, pair_by_pitch, read_note_set
from lts_sampler.render import Layer, RenderSettings, Source

DEMO_DIR = Path(__file__).resolve().parent / "demo"
DEMO_SOURCES = ("bass_thick_c.flac", "ambi_choir.flac")
DEMO_GRID_SOURCES = DEMO_SOURCES + ("guit_harmonics.flac", "elec_chime.flac")
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


@dataclasses.dataclass
class Plan:
    """A render the arguments ask for: everything :func:`make_kit` takes."""

    banks: list[Bank]
    layers: list[Layer]
    settings: RenderSettings
    out: Path
    mode: str
    grid: Grid | None


def plan(args: argparse.Namespace, *, report: Callable[[str], None]) -> Plan:
    """Check the arguments and read the sources (note sets: their pitches, ``report``-ed)."""
    if args.demo and args.sources:
        raise LtsError("give sources or --demo, not both")
    mode = args.mode or ("grid" if args.grid is not None else "keys")
    if args.grid is not None and args.mode not in (None, "grid"):
        raise LtsError(f"--grid makes a grid kit; leave out --mode {args.mode}")
    grid = None
    if mode == "grid":
        chosen = [o for o in ("alphas", "curve", "weights") if getattr(args, o) is not None]
        if chosen:
            raise LtsError(f"a grid mixes by cell position; leave out --{chosen[0]}")
        lo, hi = parse_range(args.grid_range)
        grid = Grid(args.grid or 5, lo, hi, args.cc_x, args.cc_y)
    demo = DEMO_GRID_SOURCES if grid else DEMO_SOURCES
    specs = [str(DEMO_DIR / name) for name in demo] if args.demo else args.sources
    if grid is not None:
        check_corners(len(specs))  # before any note set is read
    if len(specs) < 2:
        raise LtsError("give two or more sources: lts-sampler render A.wav B.wav -o kits/NAME (or --demo)")
    offsets = per_source(args.offset, len(specs), "--offset")
    durations = per_source(args.duration or (str(DEMO_SECONDS) if args.demo else None), len(specs), "--duration")
    sources = []
    for spec, offset, duration in zip(specs, offsets, durations):
        if is_note_set(spec):
            notes = read_note_set(spec, offset=offset or 0.0, report=report)
            sources.append({note: Source(path, offset or 0.0, duration) for note, path in notes.items()})
        elif not Path(spec).is_file():
            raise LtsError(f"source {spec} does not exist; check the path")
        else:
            sources.append(Source(Path(spec), offset or 0.0, duration))
    if any(isinstance(s, dict) for s in sources):
        if args.mode is None and grid is None:
            mode = "morph"
        banks = pair_by_pitch(sources, [f"source {chr(65 + i)}" for i in range(len(sources))], report=report)
    else:
        banks = single_bank(sources, root_note(args.root))
    layers = grid.layers() if grid else _layers(args, len(sources))
    n_iter = QUALITY_ITERATIONS[args.quality] if args.n_iter is None else args.n_iter
    if args.round_robins < 1 or n_iter < 0:
        raise LtsError("--round-robins must be at least 1 and --n-iter at least 0")
    settings = RenderSettings(n_iter=n_iter, normalize=not args.no_normalize, trim=args.trim,
                              round_robins=args.round_robins, seed=args.seed)
    first, second = (re.sub(r"[*?\[\]]+", "", Path(spec).stem).strip("_-. ") or Path(spec).parent.name
                     for spec in specs[:2])
    out = Path(args.out or ("kits/demo" + ("-grid" if grid else "") if args.demo else f"kits/{first}-{second}"))
    return Plan(banks, layers, settings, out, mode, grid)


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
            notes: list[str] = []  # shown once the arguments are all good: a mistake stays one line
            job = plan(args, report=notes.append)
            for line in notes:
                progress.console.print(line, markup=False, soft_wrap=True)
            bundle = ModelBundle.load(resolve_bundle(args.model), device=args.device)
            provider = bundle.provider
            manifest = make_kit(bundle, job.banks, job.layers, job.settings, job.out, mode=job.mode, grid=job.grid,
                                progress=advance)
            out = job.out
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
    keys = sorted({k for r in regions for k in (r.get("key"), r.get("lokey"), r.get("hikey")) if k is not None})
    summary = {
        "kit": str(out),
        "sfz": str(out / f"{manifest['name']}.sfz"),
        "mode": manifest["mode"],
        "model": manifest["model"]["name"],
        "provider": provider,
        "samples": [{"file": f"samples/{r['sample']}", **{k: v for k, v in r.items() if k != "sample"}} for r in regions],
        "keys": [keys[0], keys[-1]],
        "root": manifest["root"],
        "pitches": [b["pitch"] for b in manifest["banks"]],
        "seconds": round(seconds, 2),
    }
    if "grid" in manifest:
        summary["grid"] = {k: manifest["grid"][k] for k in ("size", "range", "cc_x", "cc_y")}
    return summary


def _print_summary(summary: dict, console) -> None:
    import librosa

    def note(n: int) -> str:
        return f"{librosa.midi_to_note(n, unicode=False)} ({n})"

    low, high = summary["keys"]
    pitches = summary["pitches"]
    if summary["mode"] == "keys":
        where = f"keys {note(low)}–{note(high)}, one sample a key"
    elif len(pitches) > 1:
        where = f"keys {note(low)}–{note(high)} from {len(pitches)} pitches: " + ", ".join(map(note, pitches))
    else:
        where = f"every key, centred on {note(summary['root'])}"
    if summary["mode"] == "morph":
        where += "; the mod wheel (CC1) morphs between the layers"
    elif summary["mode"] == "grid":
        grid = summary["grid"]
        where += (f"; a {grid['size']} × {grid['size']} pad: CC{grid['cc_x']} moves from A to B, "
                  f"CC{grid['cc_y']} from A to C")
    console.print(f"[bold]{summary['kit']}[/bold]")
    console.print(f"  {len(summary['samples'])} samples, {summary['mode']} mode: {where}")
    console.print(f"  load {summary['sfz']} in any SFZ player (sfizz, Sforzando, LinuxSampler …)")
    console.print(f"  {summary['model']} on {summary['provider']}, {summary['seconds']:.1f} s")
