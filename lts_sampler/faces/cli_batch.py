"""The ``batch`` verb: every kit of a plan file (DESIGN §8), each the render request ``render``
would build from the same options, through the one planner.

A plan is TOML: an optional ``[defaults]`` table and a ``[[kit]]`` table per kit, whose keys are
``render``'s long option names without the dashes (``-`` → ``_``), with ``sources`` (a list) and
``out``; ``demo = true`` stands for the demo sources. Relative paths resolve against the plan's
folder. Every kit is checked before any renders (a bad plan: one line naming the kit and the
key, exit status 2); a kit whose kit.json already matches its entry is skipped; a kit that fails
is reported in one line and the others go on (exit status 1).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lts_sampler.core.errors import BadValue, LtsError
from lts_sampler.core.kitformat import SOURCE_LABELS
from lts_sampler.kits.make import is_current, kit_manifest, make_kit
from lts_sampler.kits.parts import finish_kit, ignore_interrupts, submit_kit
from lts_sampler.kits.plan import DEMO_SECONDS, Plan, RenderRequest, SourceRequest, check, demo_sources, plan
from lts_sampler.synthesis.model import ModelBundle

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, from PyPI
    import tomli as tomllib

OPTIONS = {"mode", "alphas", "curve", "weights", "grid", "grid_range", "cc_x", "cc_y", "root", "quality", "n_iter",
           "no_normalize", "trim", "round_robins", "seed", "loop", "model", "offset", "duration"}
"""``render``'s options a plan entry may give, by their long names (``--n-iter`` → ``n_iter``)."""
KEYS = OPTIONS | {"sources", "out", "demo"}
PER_SOURCE = ("offset", "duration")
CONNECT_TIMEOUT_S = 10
PARTS_AHEAD_PER_SLOT = 4
"""Parts kept submitted per worker thread, beyond the next kit, while a kit is gathered and
written: the workers go on meanwhile, and the samples waiting to be gathered stay bounded."""
TEXT = ("alphas", "curve", "weights", "grid_range")
"""Options typed as text: a plan may give a number (``alphas = 0.5``)."""


def requests(path: Path) -> list[RenderRequest]:
    """The plan at ``path`` as render requests, every one checked; LtsError (one line naming
    the kit and the key) for the first thing wrong."""
    try:
        table = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise LtsError(f"cannot read plan {path}: {err}; give a TOML plan file of [[kit]] tables") from None
    except tomllib.TOMLDecodeError as err:
        raise LtsError(f"plan {path} is not valid TOML: {err}") from None
    unknown = sorted(set(table) - {"defaults", "kit"})
    kits = table.get("kit")
    if unknown or not isinstance(kits, list) or not kits or not isinstance(table.get("defaults", {}), dict):
        what = f"unknown table {unknown[0]!r}" if unknown else "no [[kit]] tables"
        raise LtsError(f"plan {path}: {what}; give an optional [defaults] table and one [[kit]] table per kit")
    made, outs = [], {}
    for number, entry in enumerate(kits, start=1):
        entry = {**table.get("defaults", {}), **entry}
        where = f"plan {path}: kit {number}" + (f" ({entry['out']})" if isinstance(entry.get("out"), str) else "")
        with _in_kit(where):
            request = _request(entry, path.parent)
            checked = check(request)
        if checked.out.resolve() in outs:
            raise LtsError(f"{where}: out {entry['out']!r} is kit {outs[checked.out.resolve()]}'s too; give each kit "
                           "its own folder")
        outs[checked.out.resolve()] = number
        made.append(request)
    return made


@contextlib.contextmanager
def _in_kit(where: str) -> Iterator[None]:
    """A mistake raised inside, as one line that begins with ``where`` (the plan and the kit)."""
    try:
        yield
    except BadValue as err:
        raise LtsError(f"{where}: {err.worded(_key(err))}") from None
    except LtsError as err:
        raise LtsError(f"{where}: {err}") from None


def _key(err: BadValue) -> str:
    """The plan key a request field's mistake is in."""
    key = "no_normalize" if err.field == "normalize" else err.field
    if err.source is None:
        return key
    return f"source {SOURCE_LABELS[err.source]}" if key == "sources" else f"{key} of source {SOURCE_LABELS[err.source]}"


def _request(entry: dict, folder: Path) -> RenderRequest:
    """One plan entry (defaults applied) → the render request ``render`` builds from the same options."""
    unknown = sorted(set(entry) - KEYS)
    if unknown:
        raise LtsError(f"unknown key {unknown[0]!r}; a kit takes sources, out, demo and render's options: "
                       + ", ".join(sorted(OPTIONS)))
    for key, value in entry.items():
        listed = key == "sources" or (key in PER_SOURCE and isinstance(value, list))
        if isinstance(value, (list, dict)) and not listed:
            raise LtsError(f"{key} takes one value, not {value!r}")
    if "out" not in entry or not isinstance(entry["out"], str):
        raise LtsError("give out = \"kits/NAME\", the kit's folder")
    demo = entry.get("demo", False)
    if demo is True:
        if "sources" in entry:
            raise LtsError("give sources or demo = true, not both")
        specs = demo_sources(grid=entry.get("grid") is not None or entry.get("mode") == "grid")
    elif demo is not False:
        raise LtsError(f"demo takes true or false, not {demo!r}")
    else:
        specs = entry.get("sources")
        if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
            raise LtsError('give sources = ["a.wav", "b.wav"], a list of files or note-set folders')
        specs = [str(_resolve(s, folder)) for s in specs]
    per_source = {key: _per_source(key, entry.get(key), len(specs)) for key in PER_SOURCE}
    if demo and entry.get("duration") is None:
        per_source["duration"] = [DEMO_SECONDS] * len(specs)
    for key in ("trim", "no_normalize"):
        if not isinstance(entry.get(key, False), bool):
            raise LtsError(f"{key} takes true or false, not {entry[key]!r}")
    options = {key: str(entry[key]) if key in TEXT and not isinstance(entry[key], str) else entry[key]
               for key in OPTIONS - {"no_normalize", "model", *PER_SOURCE} if key in entry}
    model = entry.get("model")
    if isinstance(model, str) and (folder / model).exists():
        model = str(folder / model)
    return RenderRequest(
        sources=tuple(SourceRequest(s, o, d) for s, o, d in zip(specs, per_source["offset"], per_source["duration"])),
        normalize=not entry.get("no_normalize", False), model=model, out=str(_resolve(entry["out"], folder)), **options)


def _per_source(key: str, value, n: int) -> list:
    if value is None or not isinstance(value, list):
        return [value] * n
    if len(value) != n:
        raise LtsError(f"{key} {value!r}: give one value or {n} (one per source)")
    return value


def _resolve(text: str, folder: Path) -> Path:
    """``text`` as a path, relative ones from ``folder``: absolute, as workers elsewhere need."""
    path = Path(text).expanduser()
    return path if path.is_absolute() else folder.resolve() / path


def batch(args: argparse.Namespace) -> int:
    """`lts-sampler batch PLAN.toml`: every kit of the plan, each one line; 1 if any failed."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    started = time.monotonic()
    plan_path = Path(args.plan)
    jobs: list[Plan] = []
    for number, request in enumerate(requests(plan_path), start=1):
        with _in_kit(f"plan {plan_path}: kit {number} ({request.out})"):
            jobs.append(plan(request, report=lambda line: None))
    with _executor(args) as (executor, slots):
        results = _render(jobs, executor, slots, console, device=args.device)
    counts = {status: sum(r["status"] == status for r in results) for status in ("rendered", "up to date", "failed")}
    seconds = time.monotonic() - started
    if args.json:
        print(json.dumps({"plan": str(plan_path), **counts, "seconds": round(seconds, 2), "kits": results}, indent=2))
    else:
        console.print(f"{len(results)} kits: {counts['rendered']} rendered, {counts['up to date']} up to date, "
                      f"{counts['failed']} failed, in {seconds:.1f} s")
    return 1 if counts["failed"] else 0


@contextlib.contextmanager
def _executor(args: argparse.Namespace) -> Iterator[tuple[Executor | None, int]]:
    """Where the samples render, and how many at once: None (this process, a thread per
    core), ``--workers`` local processes, or the Dask cluster at ``--cluster``."""
    if args.cluster:
        try:
            from distributed import Client
        except ImportError:
            raise LtsError("--cluster needs Dask: pip install 'lts-sampler[cluster]'") from None
        try:
            client = Client(args.cluster, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as err:
            raise LtsError(f"--cluster {args.cluster}: cannot reach a Dask scheduler there ({err}); start one "
                           "(dask scheduler) or give its address, e.g. tcp://10.0.0.5:8786") from None
        with client:
            executor = client.get_executor()
            try:
                yield executor, sum(client.nthreads().values())
            finally:  # Ctrl-C: every part not done cancelled on the cluster, in one call
                executor.shutdown(wait=False)
    elif args.workers is not None:
        if args.workers < 1:
            raise BadValue("workers", args.workers, "give 1 or more local processes")
        pool = ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=ignore_interrupts)
        try:
            yield pool, args.workers
        finally:
            pool.shutdown(cancel_futures=True)
    else:
        yield None, os.cpu_count() or 1


def _render(jobs: list[Plan], executor: Executor | None, slots: int, console: Console, *,
            device: str) -> list[dict]:
    """Render or skip each kit, one line each, under one bar: each kit's outcome, in plan order.
    On an executor the next kits' parts are submitted while a kit is gathered and written, so
    that ``slots`` workers are not left idle between kits."""
    bundles: dict[Path, ModelBundle] = {}
    results: list[dict] = [{} for _ in jobs]
    todo: list[int] = []
    columns = (TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("batch", total=sum(job.samples for job in jobs))

        def say(line: str) -> None:
            progress.console.print(line, markup=False)

        for index, job in enumerate(jobs):
            if job.model not in bundles:
                bundles[job.model] = ModelBundle.load(job.model, device=device)
            expected = kit_manifest(bundles[job.model], job.banks, job.layers, job.settings, job.out, mode=job.mode,
                                    grid=job.grid)
            if is_current(job.out, expected):
                results[index] = {"out": str(job.out), "status": "up to date", "samples": job.samples}
                progress.advance(task, job.samples)
                say(f"  up to date  {job.out}")
            else:
                todo.append(index)
        submitted: dict[int, list[Future]] = {}  # the parts not gathered: on Ctrl-C the executor cancels them
        unsubmitted = deque(todo)
        for index in todo:
            job, kit_started, base = jobs[index], time.monotonic(), progress.tasks[0].completed
            while executor is not None and unsubmitted and (
                    len(submitted) < 2 or sum(map(len, submitted.values())) < PARTS_AHEAD_PER_SLOT * slots):
                ahead = unsubmitted.popleft()
                submitted[ahead] = submit_kit(executor, jobs[ahead])

            def advance(done: int, total: int, label: str, base=base, out=job.out) -> None:
                progress.update(task, completed=base + done, description=f"{out.name} {label}")

            try:
                if executor is None:
                    make_kit(bundles[job.model], job.banks, job.layers, job.settings, job.out, mode=job.mode,
                             grid=job.grid, progress=advance)
                else:
                    finish_kit(bundles[job.model], job, submitted.pop(index), progress=advance)
            except Exception as err:
                if not isinstance(err, LtsError) and executor is None:
                    raise  # a bug here, not a worker's failure: a traceback
                why = str(err) if isinstance(err, LtsError) else f"{type(err).__name__}: {err}"  # a worker lost
                results[index] = {"out": str(job.out), "status": "failed", "error": why}
                progress.update(task, completed=base + job.samples)
                say(f"  failed      {job.out}: {why}")
                continue
            seconds = time.monotonic() - kit_started
            results[index] = {"out": str(job.out), "status": "rendered", "samples": job.samples,
                              "seconds": round(seconds, 2)}
            say(f"  rendered    {job.out}: {job.samples} samples in {seconds:.1f} s")
    return results
