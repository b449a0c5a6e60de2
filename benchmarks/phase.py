"""Phase reconstruction and bank rendering: the LTS reference against the presets.

Run by hand: ``python benchmarks/phase.py`` (``--quick``: a 0.3 s clip against a reference of
2 iterations, the draft preset, a bank of two samples of 1 s: a check that the script runs, in
seconds; its figures mean nothing). In one run it prints

1. for each clip, on the same decoded magnitudes (the bundled model on the demo pair at
   several α, and held-out clips: the shipped one, and Debian's sonic-pi-samples held-out
   files where installed), the reference (``librosa.griffinlim_cqt``, 32 iterations, random
   initial phase) and each preset (fast Griffin–Lim from the dominant source's phase):
   seconds, real-time factor, spectral convergence against the target magnitude (measured
   with ``librosa.cqt``), and the speed ratio to the reference;
2. the end-to-end time of a kit of 9 samples of 4 s (encode, decode, phase, finish, WAVs and
   SFZ written), per preset, with the real-time factor; and as a morph kit with sustain loops,
   with the time the loops take (finding them and making the samples seamless) and their share;
3. ONNX decode and encode frames per second;
4. where CuPy sees a GPU, the presets and the bank again on it.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lts_sampler.core.banks import QUALITY_ITERATIONS, Layer, RenderSettings, Source
from lts_sampler.core.kitformat import single_bank
from lts_sampler.core.mixing import parse_alphas
from lts_sampler.kits.make import make_kit
from lts_sampler.synthesis.audio import load_audio
from lts_sampler.synthesis.loops import loop_bank
from lts_sampler.synthesis.metrics import spectral_convergence
from lts_sampler.synthesis.model import ModelBundle, default_bundle_path
from lts_sampler.synthesis.phase import plan_for, reconstruct, resolve_backend
from lts_sampler.synthesis.render import render_banks
from lts_sampler.synthesis.spectral import cqt_magnitude, griffinlim

DEMO = Path(__file__).resolve().parent.parent / "lts_sampler" / "demo"
SONIC_PI = Path("/usr/share/sonic-pi/samples")
HELD_OUT = ("ambi_haunted_hum.flac", "drum_splash_hard.flac", "loop_tabla.flac", "bd_haus.flac")
DEMO_SECONDS = 1.5
ALPHAS = (-0.5, 0.0, 0.5, 1.0, 1.5)


def clips(bundle: ModelBundle, quick: bool):
    """(name, target magnitude [frames, bins], initial phase [frames, bins], samples)."""
    spec = bundle.spec

    def analysed(path: Path, seconds: float) -> tuple[np.ndarray, np.ndarray]:
        y = load_audio(path, sample_rate=spec.sample_rate, duration=seconds)
        return y, plan_for(spec, len(y)).forward(y).T

    (a, ca), (b, cb) = (analysed(DEMO / n, 0.3 if quick else DEMO_SECONDS) for n in ("bass_thick_c.flac", "ambi_choir.flac"))
    mu_a, _ = bundle.encode(np.abs(ca))
    mu_b, _ = bundle.encode(np.abs(cb))
    n = min(len(mu_a), len(mu_b))
    for alpha in ALPHAS[:1] if quick else ALPHAS:
        target = bundle.decode((1 - alpha) * mu_a[:n] + alpha * mu_b[:n])
        yield f"demo α={alpha:+.1f}", target, np.angle(ca if alpha < 0.5 else cb)[:n], min(len(a), len(b))
    held_out = [] if quick else [DEMO / "bass_thick_c.flac"] + [SONIC_PI / n for n in HELD_OUT if (SONIC_PI / n).is_file()]
    for path in held_out:
        y, c = analysed(path, 4.0)
        mu, _ = bundle.encode(np.abs(c))
        yield f"{path.stem[:13]} {len(y) / spec.sample_rate:.1f}s", bundle.decode(mu), np.angle(c), len(y)


def consistency(y: np.ndarray, target: np.ndarray, spec) -> float:
    rebuilt = cqt_magnitude(y, spec)
    n = min(len(rebuilt), len(target))
    return spectral_convergence(rebuilt[:n], target[:n])


def timed(fn, *args, **kwargs):
    """fn's result and its wall time in seconds."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def row(name: str, method: str, seconds: float, audio_seconds: float, sc: float, reference: float | None) -> str:
    ratio = f"{reference / seconds:>9.1f}×" if reference else f"{'—':>10}"
    return f"{name:<20}{method:<11}{seconds:>8.3f}{seconds / audio_seconds:>8.3f}{sc:>8.3f}{ratio}"


def presets(quick: bool) -> list[tuple[str, int]]:
    """The quality presets measured: all, or draft alone."""
    return list(QUALITY_ITERATIONS.items())[:1] if quick else list(QUALITY_ITERATIONS.items())


def phase_table(bundle: ModelBundle, backends: list[str], quick: bool) -> None:
    spec = bundle.spec
    header = f"{'clip':<20}{'method':<11}{'seconds':>8}{'RTF':>8}{'SC':>8}{'speed-up':>10}"
    print(header + "\n" + "-" * len(header))
    for name, target, phase, length in clips(bundle, quick):
        audio_seconds = length / spec.sample_rate
        y, reference = timed(griffinlim, target, spec, n_iter=2 if quick else 32, length=length)
        print(row(name, "reference", reference, audio_seconds, consistency(y, target, spec), None))
        name = ""
        for backend in backends:
            reconstruct(target, spec, n_iter=1, length=length, init_phase=phase, backend=backend)  # plan, warm-up
            for preset, n_iter in presets(quick):
                y, t = timed(reconstruct, target, spec, n_iter=n_iter, length=length, init_phase=phase, backend=backend)
                method = preset if backend == "cpu" else f"{preset}·gpu"
                print(row(name, method, t, audio_seconds, consistency(y, target, spec), reference))
                name = ""


def bank_table(bundle: ModelBundle, backends: list[str], quick: bool) -> None:
    spec = bundle.spec
    seconds = 1.0 if quick else 4.0
    sources = [Source(DEMO / "bass_thick_c.flac", 0.0, seconds), Source(DEMO / "ambi_choir.flac", 0.0, seconds)]
    layers = [Layer(alpha=a) for a in parse_alphas("0,1" if quick else "-0.5:1.5:0.25")]
    audio_seconds = len(layers) * len(load_audio(sources[0].path, sample_rate=spec.sample_rate, duration=seconds)) / spec.sample_rate
    print(f"\nbank of {len(layers)} samples, {audio_seconds:.1f} s of audio in all (demo pair, α {layers[0].alpha:+g}…{layers[-1].alpha:+g}): rendered "
          f"(encode, decode, phase, finish), and as a kit (also WAVs, SFZ and kit.json written): keys, morph, morph "
          f"with sustain loops; loops s: finding the loops and making the samples seamless, share: of the looped kit")
    header = (f"{'preset':<14}{'render s':>9}{'kit s':>8}{'kit RTF':>9}{'morph s':>9}{'+ loops s':>10}"
              f"{'loops s':>9}{'share':>7}")
    print(header + "\n" + "-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            for preset, n_iter in presets(quick):
                settings = RenderSettings(n_iter=n_iter)
                rendered, render = timed(render_banks, bundle, [sources], layers, settings, backend=backend)
                bank = single_bank(sources, 60)
                _, kit = timed(make_kit, bundle, bank, layers, settings, Path(tmp) / preset, backend=backend)
                _, morph = timed(make_kit, bundle, bank, layers, settings, Path(tmp) / preset, mode="morph", backend=backend)
                _, looped = timed(make_kit, bundle, bank, layers, dataclasses.replace(settings, loop=True), Path(tmp) / preset,
                                  mode="morph", backend=backend)
                _, loops = timed(loop_bank, [sample.audio for sample in rendered], spec.sample_rate)
                label = preset if backend == "cpu" else f"{preset}·gpu"
                print(f"{label:<14}{render:>9.3f}{kit:>8.3f}{kit / audio_seconds:>9.4f}{morph:>9.3f}{looped:>10.3f}"
                      f"{loops:>9.3f}{loops / looped:>7.1%}")


def model_table(bundle: ModelBundle, quick: bool) -> None:
    frames = 1379 if quick else 9 * 1379  # the bank above
    z = np.random.default_rng(0).standard_normal((frames, bundle.latent_dim)).astype(np.float32)
    magnitude = bundle.decode(z)
    decode_s = min(timed(bundle.decode, z)[1] for _ in range(3))
    encode_s = min(timed(bundle.encode, magnitude)[1] for _ in range(3))
    print(f"\nONNX ({bundle.provider}): decode {frames / decode_s:,.0f} frames/s, encode {frames / encode_s:,.0f} frames/s "
          f"({frames} frames a call: {bundle.spec.frames_to_seconds(frames):.0f} s of audio)")


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    bundle = ModelBundle.load(default_bundle_path(), device="cpu")
    backends = ["cpu"] + (["cuda"] if resolve_backend("auto") == "cuda" else [])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}")
    if "cuda" in backends:
        import cupy

        print(f"GPU: {cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}")
    print(f"model: {bundle.name}; reference: librosa.griffinlim_cqt, 32 iterations, random phase; "
          f"presets (most iterations): {QUALITY_ITERATIONS}\n")
    phase_table(bundle, backends, quick)
    bank_table(bundle, backends, quick)
    model_table(bundle, quick)


if __name__ == "__main__":
    main()
