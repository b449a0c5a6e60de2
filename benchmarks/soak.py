"""Memory over many renders in one process: does a long session (the TUI, a script) leak?

Run by hand: ``python benchmarks/soak.py [RENDERS]`` (default 50; ``--quick``: 3, no verdict). It renders the demo pair
at normal quality (9 layers, α −0.5…1.5, 1.5 s) with :func:`lts_sampler.kits.make.make_kit` into
the same kit folder (in a temporary folder) RENDERS times, with the model loaded once, and
prints the resident memory (VmRSS) after renders 1, 5, 10, 25 and the last, the growth from
render 5 (after warm-up: plans and caches built, ONNX sessions warm) to the last, and the
seconds per render; then, on glibc, the memory resident once ``malloc_trim`` has handed the
free heap back. The target is a growth of at most 5 %; the exit status is 1 above it.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from lts_sampler.core.banks import Layer, RenderSettings, Source
from lts_sampler.core.kitformat import single_bank
from lts_sampler.core.mixing import parse_alphas
from lts_sampler.kits.make import make_kit
from lts_sampler.kits.plan import DEMO_DIR, DEMO_SECONDS, DEMO_SOURCES
from lts_sampler.synthesis.model import ModelBundle, resolve_bundle

TARGET_GROWTH = 0.05
REPORTED = (1, 5, 10, 25)


def rss_mib() -> float:
    """Resident memory of this process now, MiB (Linux: /proc/self/status; else the peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def malloc_trim() -> float | None:
    """Hand the heap's free pages back to the system (glibc only) and measure again: growth that
    vanishes here is memory freed but kept by the allocator, not a leak."""
    import ctypes

    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    trim(0)
    return rss_mib()


def main(renders: int = 50) -> int:
    bundle = ModelBundle.load(resolve_bundle("lts-default"), device="cpu")
    sources = [Source(DEMO_DIR / name, 0.0, DEMO_SECONDS) for name in DEMO_SOURCES]
    layers = [Layer(alpha=a) for a in parse_alphas("-0.5:1.5:0.25")]
    settings = RenderSettings()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; {bundle.name} on {bundle.provider}; "
          f"{len(layers)} samples of {DEMO_SECONDS} s, {settings.n_iter} iterations, {renders} renders")
    memory, seconds = {}, []
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "soak"
        for n in range(1, renders + 1):
            started = time.perf_counter()
            make_kit(bundle, single_bank(sources, 60), layers, settings, target)
            seconds.append(time.perf_counter() - started)
            memory[n] = rss_mib()
            if n in REPORTED or n == renders:
                print(f"after render {n:>3}: {memory[n]:7.1f} MiB resident, {seconds[-1]:.2f} s this render")
    base = memory[min(5, renders)]
    growth = memory[renders] / base - 1
    later = seconds[1:] or seconds
    print(f"growth from render {min(5, renders)} to {renders}: {100 * growth:+.1f} % "
          f"({memory[renders] - base:+.1f} MiB; target ≤ {100 * TARGET_GROWTH:.0f} %)")
    trimmed = malloc_trim()
    if trimmed is not None:
        print(f"after malloc_trim(0): {trimmed:.1f} MiB resident (freed heap that glibc had kept)")
    print(f"seconds per render: first {seconds[0]:.2f}, then mean {sum(later) / len(later):.2f}, "
          f"min {min(later):.2f}, max {max(later):.2f}")
    return 0 if growth <= TARGET_GROWTH else 1


if __name__ == "__main__":
    if "--quick" in sys.argv[1:]:  # a check that the script runs: too few renders for a verdict
        main(3)
        sys.exit(0)
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50))
