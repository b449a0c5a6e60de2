"""Phase reconstruction: the LTS reference against the presets of ``lts_sampler.phase``.

Run by hand: ``python benchmarks/phase.py``. For each clip, on the same decoded magnitudes
(the bundled model on the demo pair at several α, and the held-out demo clip), it times
``librosa.griffinlim_cqt`` (32 iterations, random initial phase) and each preset (fast
Griffin–Lim on a reusable transform plan, started from the dominant source's phase), and
prints seconds, real-time factor, spectral convergence against the target magnitude, and the
speed ratio to the reference.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np

from lts_sampler.audio import load_audio
from lts_sampler.metrics import spectral_convergence
from lts_sampler.model import ModelBundle, default_bundle_path
from lts_sampler.phase import QUALITY_ITERATIONS, plan_for, reconstruct
from lts_sampler.spectral import cqt_magnitude, griffinlim

DEMO = Path(__file__).resolve().parent.parent / "lts_sampler" / "demo"
SECONDS = 1.5
ALPHAS = (-0.5, 0.0, 0.5, 1.0, 1.5)


def clips(bundle: ModelBundle):
    """(name, target magnitude [frames, bins], initial phase [frames, bins], samples)."""
    spec, plan = bundle.spec, plan_for(bundle.spec)
    a, b = (load_audio(DEMO / n, sample_rate=spec.sample_rate, duration=SECONDS)
            for n in ("bass_thick_c.flac", "ambi_choir.flac"))
    ca, cb = plan.forward(a).T, plan.forward(b).T
    mu_a, _ = bundle.encode(np.abs(ca))
    mu_b, _ = bundle.encode(np.abs(cb))
    n = min(len(mu_a), len(mu_b))
    for alpha in ALPHAS:
        target = bundle.decode((1 - alpha) * mu_a[:n] + alpha * mu_b[:n])
        yield f"demo α={alpha:+.2f}", target, np.angle(ca if alpha < 0.5 else cb)[:n], min(len(a), len(b))
    held_out = load_audio(DEMO / "bass_thick_c.flac", sample_rate=spec.sample_rate, duration=4.0)
    c = plan.forward(held_out).T
    mu, _ = bundle.encode(np.abs(c))
    yield "held-out 4 s", bundle.decode(mu), np.angle(c), len(held_out)


def consistency(y: np.ndarray, target: np.ndarray, spec) -> float:
    rebuilt = cqt_magnitude(y, spec)
    n = min(len(rebuilt), len(target))
    return spectral_convergence(rebuilt[:n], target[:n])


def timed(fn, *args, **kwargs):
    """fn's result and its wall time in seconds."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main() -> None:
    bundle = ModelBundle.load(default_bundle_path(), device="cpu")
    spec = bundle.spec
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}")
    print(f"model: {bundle.name}; reference: librosa.griffinlim_cqt, 32 iterations, random phase")
    plan_for(spec)  # built once per process; its cost is not part of a sample's
    header = f"{'clip':<14}{'method':<10}{'seconds':>9}{'RTF':>8}{'SC':>8}{'speed-up':>10}"
    print(header)
    print("-" * len(header))
    for name, target, phase, length in clips(bundle):
        audio_seconds = length / spec.sample_rate
        y, ref_time = timed(griffinlim, target, spec, n_iter=32, length=length)
        print(f"{name:<14}{'reference':<10}{ref_time:>9.2f}{ref_time / audio_seconds:>8.3f}"
              f"{consistency(y, target, spec):>8.3f}{1.0:>10.1f}")
        for preset, n_iter in QUALITY_ITERATIONS.items():
            y, t = timed(reconstruct, target, spec, n_iter=n_iter, length=length, init_phase=phase)
            print(f"{'':<14}{preset:<10}{t:>9.2f}{t / audio_seconds:>8.3f}"
                  f"{consistency(y, target, spec):>8.3f}{ref_time / t:>10.1f}")


if __name__ == "__main__":
    main()
