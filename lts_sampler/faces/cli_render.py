"""The ``render`` verb: arguments → a render request (:mod:`lts_sampler.kits.plan`) → a kit, and its summary."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lts_sampler.core.errors import LtsError
from lts_sampler.core.kitformat import describe_loops, played_once
from lts_sampler.kits.make import make_kit, rerender
from lts_sampler.kits.plan import DEMO_SECONDS, RenderRequest, SourceRequest, demo_sources, plan
from lts_sampler.synthesis.model import ModelBundle


def per_source(text: str | None, n: int, flag: str) -> list[str | None]:
    """``"0.5"`` (all sources) or ``"0.5,0,1"`` (one each) → n values, as typed."""
    if text is None:
        return [None] * n
    values = text.split(",")
    if len(values) not in (1, n):
        raise LtsError(f"{flag} {text!r}: give one value or {n} (one per source)")
    return values * n if len(values) == 1 else values


def request(args: argparse.Namespace) -> RenderRequest:
    """The render the arguments ask for; ``--demo`` is the bundled demo sounds, 1.5 s of each."""
    if args.demo and args.sources:
        raise LtsError("give sources or --demo, not both")
    grid = args.grid is not None or args.mode == "grid"
    specs = demo_sources(grid=grid) if args.demo else args.sources
    offsets = per_source(args.offset, len(specs), "--offset")
    durations = per_source(args.duration or (str(DEMO_SECONDS) if args.demo else None), len(specs), "--duration")
    return RenderRequest(
        sources=tuple(SourceRequest(*s) for s in zip(specs, offsets, durations)),
        mode=args.mode, alphas=args.alphas, curve=args.curve, weights=args.weights, grid=args.grid,
        grid_range=args.grid_range, cc_x=args.cc_x, cc_y=args.cc_y, root=args.root, quality=args.quality,
        n_iter=args.n_iter, normalize=not args.no_normalize, trim=args.trim, round_robins=args.round_robins,
        seed=args.seed, loop=args.loop, model=args.model, out=args.out, name=("demo-grid" if grid else "demo") if args.demo else None,
    )


def render(args: argparse.Namespace) -> int:
    """`lts-sampler render`: a kit from sources, from the demo pair, or again from a kit.json."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
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
            job = plan(request(args), report=notes.append)
            for line in notes:
                progress.console.print(line, markup=False)
            bundle = ModelBundle.load(job.model, device=args.device)
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
        "played_once": played_once(manifest),
        "loops": describe_loops(manifest),
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
    if summary["loops"]:
        console.print(f"  {summary['loops']} (--loop off: none)")
    console.print(f"  load {summary['sfz']} in any SFZ player (sfizz, Sforzando, LinuxSampler …)")
    console.print(f"  {summary['model']} on {summary['provider']}, {summary['seconds']:.1f} s")
