"""Train a VAE on a folder of audio. Reads top to bottom: config, data, model, loop.

Runs on one process (CUDA when present, else CPU) or under ``torchrun`` with
DistributedDataParallel: each rank draws its share of every epoch through a
DistributedSampler; rank 0 alone logs, evaluates the held-out files and writes.

A run folder holds ``config.json``, ``dataset.json`` (every file of each split, with its
sha256), ``ckpt.pt`` (the latest state, for ``--resume``), ``best.pt`` (the weights with
the lowest validation loss), ``metrics.json`` and ``loss.png``. Checkpoints hold only
tensors and plain data: they load with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from lts_sampler.training.dataset import build_dataset, read_name_list, split_dataset, stack_frames
from lts_sampler.training.models import build_model
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from lts_sampler import __version__
from lts_sampler.core.atomic import write_json
from lts_sampler.core.errors import LtsError
from lts_sampler.core.spec import AudioSpec
from lts_sampler.synthesis.metrics import log_spectral_distance, spectral_convergence

ARCH_DEFAULTS = {
    "residual": {"hidden": 512, "beta": 1e-5, "lr": 1e-4},
    "lts": {"hidden": 2048, "beta": 5e-4, "lr": 1e-4},
}


@dataclasses.dataclass
class TrainConfig:
    data: str  # folder of audio, searched recursively
    out: str  # run folder
    arch: str = "residual"  # "residual" (default) or "lts" (the published baseline)
    latent_dim: int = 256
    hidden: int | None = None  # width of the hidden layers; None: the arch's default
    beta: float | None = None  # weight of the KL term; None: the arch's default
    log_weight: float = 3.0  # residual arch: weight of the log-magnitude MSE beside spectral convergence
    lr: float | None = None
    linear_lr_scale: float = 0.0  # residual arch: lr of the PCA-initialised linear paths, relative (0: kept)
    weight_decay: float = 1e-4
    batch_size: int = 512
    epochs: int = 40
    max_minutes: float | None = None  # wall-time budget of this invocation
    eval_interval: int = 50  # steps between validation passes (and checkpoints)
    patience: int = 20  # validation passes without improvement before stopping
    shift_bins: int = 8  # augmentation: roll frames by up to this many bins (4 = a semitone)
    gain_db: float = 12.0  # augmentation: random gain within ± this
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    heldout_list: str | None = None  # file of held-out names; else a seeded fraction
    heldout_fraction: float = 0.1
    validation_fraction: float = 0.1
    cache_dir: str | None = None
    workers: int | None = None

    def resolved(self) -> TrainConfig:
        """The config with the arch's defaults filled in."""
        if self.arch not in ARCH_DEFAULTS:
            raise LtsError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCH_DEFAULTS)}")
        defaults = ARCH_DEFAULTS[self.arch]
        return dataclasses.replace(self, **{k: v for k, v in defaults.items() if getattr(self, k) is None})


def model_args_for(cfg: TrainConfig, n_bins: int) -> dict:
    args = {"arch": cfg.arch, "n_bins": n_bins, "latent_dim": cfg.latent_dim, "hidden": cfg.hidden, "beta": cfg.beta}
    if cfg.arch == "residual":
        args["log_weight"] = cfg.log_weight
    return args


def augment(batch: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """Random gain per frame and one random shift along the bin axis per batch.

    batch : [N, n_bins] linear magnitudes. Bins rolled in from the edge repeat the edge bin.
    """
    if cfg.gain_db > 0:
        gain_db = (torch.rand(len(batch), 1, device=batch.device) * 2 - 1) * cfg.gain_db
        batch = batch * torch.pow(10.0, gain_db / 20)
    if cfg.shift_bins > 0:
        shift = int(torch.randint(-cfg.shift_bins, cfg.shift_bins + 1, ()))
        batch = shift_bins(batch, shift)
    return batch


def shift_bins(frames: torch.Tensor, shift: int) -> torch.Tensor:
    """Move frames up (shift > 0) or down the bin axis, repeating the edge bin."""
    if shift > 0:
        return torch.cat([frames[:, :1].expand(-1, shift), frames[:, :-shift]], dim=1)
    if shift < 0:
        return torch.cat([frames[:, -shift:], frames[:, -1:].expand(-1, -shift)], dim=1)
    return frames


def init_frames(frames: np.ndarray, cfg: TrainConfig, *, limit: int = 200_000, seed: int = 0) -> np.ndarray:
    """The frames a model initialises from: the training frames at semitone shifts
    within the augmentation range, at most ``limit`` rows (seeded subsample)."""
    t = torch.from_numpy(frames)
    shifts = range(-(cfg.shift_bins // 4) * 4, cfg.shift_bins + 1, 4) if cfg.shift_bins >= 4 else [0]
    stacked = torch.cat([shift_bins(t, s) for s in shifts]).numpy()
    if len(stacked) > limit:
        stacked = stacked[np.random.default_rng(seed).choice(len(stacked), limit, replace=False)]
    return stacked


def parameter_groups(model: torch.nn.Module, cfg: TrainConfig) -> list[dict]:
    """The linear paths (``*_linear``) at ``lr · linear_lr_scale``, the rest at ``lr``."""
    linear = [p for n, p in model.named_parameters() if "_linear" in n]
    rest = [p for n, p in model.named_parameters() if "_linear" not in n]
    groups = [{"params": rest}]
    if linear:
        groups.append({"params": linear, "lr": cfg.lr * cfg.linear_lr_scale})
    return groups


@torch.no_grad()
def validation_loss(model: torch.nn.Module, frames: torch.Tensor, *, chunk: int = 8192) -> float:
    """Mean loss over ``frames`` with μ decoding (no sampling), in eval mode."""
    if len(frames) == 0:
        return float("nan")
    model.eval()
    total = 0.0
    for start in range(0, len(frames), chunk):
        part = frames[start : start + chunk]
        loss, _ = model(part, sample=False)
        total += float(loss) * len(part)
    model.train()
    return total / len(frames)


@torch.no_grad()
def prephase_figures(model: torch.nn.Module, items, spec: AudioSpec, *, seconds: float = 4.0, min_seconds: float = 1.0) -> dict:
    """Decoder output against the original magnitude on files of ≥ min_seconds (first
    ``seconds``): mean SC and LSD (dB), before any phase reconstruction."""
    model.eval()
    device = next(model.parameters()).device
    max_frames = int(round(seconds * spec.sample_rate / spec.hop_length)) + 1
    rows = {}
    for item in items:
        if item.seconds < min_seconds:
            continue
        target = item.load()[:max_frames]
        mu, _ = model.encode(torch.from_numpy(target).to(device))
        estimate = model.decode(mu).cpu().numpy()
        rows[item.name] = {"sc": spectral_convergence(estimate, target), "lsd_db": log_spectral_distance(estimate, target)}
    model.train()
    if not rows:
        return {"files": {}}
    return {
        "files": rows,
        "sc": float(np.mean([r["sc"] for r in rows.values()])),
        "lsd_db": float(np.mean([r["lsd_db"] for r in rows.values()])),
    }


def save_checkpoint(obj: dict, path: Path) -> None:
    """torch.save to a temporary file, then rename: a checkpoint is whole or absent."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict:
    """A checkpoint, loaded with weights_only=True; LtsError if missing or unreadable."""
    if not path.is_file():
        raise LtsError(f"no checkpoint at {path}; start the run without --resume")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise LtsError(f"checkpoint {path} is unreadable ({type(err).__name__}); delete it and train again") from None
    if not isinstance(ckpt, dict) or not {"model", "model_args"} <= set(ckpt):
        raise LtsError(f"checkpoint {path} is not an lts-sampler checkpoint; delete it and train again")
    return ckpt


def plot_losses(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [h["step"] for h in history]
    ax.plot(steps, [h["train_loss"] for h in history], label="train (augmented, sampled z)")
    ax.plot(steps, [h["val_loss"] for h in history], label="validation (z = μ)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


def code_revision() -> str:
    """The git commit of this code, ``-dirty`` when the work tree has changes; else the version."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"],
            cwd=Path(__file__).parent, capture_output=True, text=True, check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return f"lts-sampler {__version__}"
    return out.stdout.strip()


def pick_device(name: str, local_rank: int) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise LtsError("--device cuda asked for, but torch sees no CUDA GPU; use --device cpu or auto")
    if name not in ("auto", "cpu", "cuda"):
        raise LtsError(f"unknown device {name!r}; use auto, cpu or cuda")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def train(cfg: TrainConfig, *, resume: bool = False, console: Console | None = None) -> dict:
    """Train (or resume) a run; returns the metrics written to ``metrics.json``."""
    console = console or Console(stderr=True)
    out = Path(cfg.out)
    if resume:
        ckpt = load_checkpoint(out / "ckpt.pt")
        overrides = {"epochs": cfg.epochs, "max_minutes": cfg.max_minutes, "device": cfg.device}
        cfg = dataclasses.replace(TrainConfig(**ckpt["config"]), **overrides)
    cfg = cfg.resolved()

    # -- processes and device -------------------------------------------------------------
    ddp = int(os.environ.get("RANK", -1)) != -1
    rank, world, local_rank = 0, 1, 0
    if ddp:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = pick_device(cfg.device, local_rank)
    if ddp:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    master = rank == 0
    torch.manual_seed(cfg.seed)

    # -- data: rank 0 analyses, the others read its cache --------------------------------
    spec = AudioSpec()
    for turn in (True, False):
        if master == turn:
            dataset = build_dataset(cfg.data, spec, cache_dir=cfg.cache_dir, workers=cfg.workers, show_progress=master)
        if ddp:
            dist.barrier()
    heldout_names = read_name_list(cfg.heldout_list) if cfg.heldout_list else None
    split = split_dataset(
        dataset, heldout_names=heldout_names, heldout_fraction=cfg.heldout_fraction,
        validation_fraction=cfg.validation_fraction, seed=cfg.seed,
    )
    train_np = stack_frames(split.train)
    train_frames = torch.from_numpy(train_np).to(device)
    val_frames = torch.from_numpy(stack_frames(split.validation or split.train)).to(device)
    if master:
        for name, reason in dataset.skipped.items():
            console.print(f"skipped {name}: {reason}", markup=False, highlight=False)
        console.print(
            f"{len(dataset.items)} files ({dataset.seconds:.0f} s), {len(dataset.skipped)} skipped; "
            f"train {len(split.train)} files / {len(train_frames)} frames, validation {len(split.validation)}, "
            f"held out {len(split.heldout)}; device {device}" + (f" × {world} processes" if ddp else ""),
            highlight=False,
        )
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", dataclasses.asdict(cfg))
        write_json(out / "dataset.json", describe_split(cfg, spec, dataset, split))

    # -- model and optimiser --------------------------------------------------------------
    model_args = model_args_for(cfg, spec.n_bins)
    model = build_model(model_args)
    if not resume:
        model.fit_init(init_frames(train_np, cfg, seed=cfg.seed))
    model.to(device)
    optimizer = torch.optim.AdamW(parameter_groups(model, cfg), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = {"step": 0, "epoch": 0, "best_val_loss": math.inf, "best_step": 0, "evals_since_best": 0, "history": []}
    if resume:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        state = ckpt["state"]
        torch.set_rng_state(ckpt["rng_state"])
    trained = DistributedDataParallel(model) if ddp else model

    sampler = DistributedSampler(
        range(len(train_frames)), num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed, drop_last=True
    )
    steps_per_epoch = max(1, len(sampler) // cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch

    def checkpoint(train_loss: float) -> bool:
        """Validate, log, save; True when training should stop early."""
        val_loss = validation_loss(model, val_frames)
        improved = val_loss < state["best_val_loss"]
        if improved:
            state.update(best_val_loss=val_loss, best_step=state["step"], evals_since_best=0)
        else:
            state["evals_since_best"] += 1
        state["history"].append(
            {"step": state["step"], "epoch": state["epoch"], "train_loss": train_loss, "val_loss": val_loss}
        )
        if master:
            if improved:
                save_checkpoint({"model": model.state_dict(), "model_args": model_args, "step": state["step"],
                             "val_loss": val_loss, "config": dataclasses.asdict(cfg)}, out / "best.pt")
            save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "model_args": model_args,
                         "config": dataclasses.asdict(cfg), "state": state, "rng_state": torch.get_rng_state()},
                        out / "ckpt.pt")
        return state["evals_since_best"] >= cfg.patience

    # -- the loop -------------------------------------------------------------------------
    started = time.monotonic()
    stop_reason = "epochs"
    if state["step"] == 0:
        with torch.no_grad():  # the training loss as the loop measures it: augmented, sampled
            running = model(augment(train_frames[: 8 * cfg.batch_size], cfg))[0].item()
        checkpoint(running)
    else:
        running = state["history"][-1]["train_loss"]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not master, transient=False) as progress:
        task = progress.add_task("training", total=total_steps, completed=state["step"])
        while state["step"] < total_steps and stop_reason == "epochs":
            sampler.set_epoch(state["epoch"])
            order = torch.tensor(list(sampler), device=device)
            first = state["step"] - state["epoch"] * steps_per_epoch
            for b in range(first, steps_per_epoch):
                batch = augment(train_frames[order[b * cfg.batch_size : (b + 1) * cfg.batch_size]], cfg)
                loss, parts = trained(batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                running = 0.9 * running + 0.1 * loss.item()
                state["step"] += 1
                progress.update(task, advance=1, description=_describe(state, running, parts))
                if state["step"] % cfg.eval_interval == 0 or state["step"] == total_steps:
                    stop = checkpoint(running)
                    out_of_time = cfg.max_minutes is not None and time.monotonic() - started > 60 * cfg.max_minutes
                    stop_reason = _agree_to_stop(stop, out_of_time, ddp, device)
                    if stop_reason != "epochs":
                        break
            else:
                state["epoch"] += 1

    # -- the record -----------------------------------------------------------------------
    metrics = None
    if master:
        best = load_checkpoint(out / "best.pt")
        model.load_state_dict(best["model"])
        metrics = {
            "arch": cfg.arch,
            "stopped": stop_reason,
            "steps": state["step"],
            "epochs": round(state["step"] / steps_per_epoch, 2),
            "best_step": state["best_step"],
            "best_val_loss": state["best_val_loss"],
            "seconds": round(time.monotonic() - started, 1),
            "device": str(device),
            "processes": world,
            "code_revision": code_revision(),
            "heldout_prephase": prephase_figures(model, split.heldout, spec),
            "history": state["history"],
        }
        write_json(out / "metrics.json", metrics)
        plot_losses(state["history"], out / "loss.png")
        hp = metrics["heldout_prephase"]
        console.print(
            f"stopped ({stop_reason}) after {state['step']} steps; best validation loss {state['best_val_loss']:.4f} "
            f"at step {state['best_step']}"
            + (f"; held-out before phase: SC {hp['sc']:.3f}, LSD {hp['lsd_db']:.2f} dB" if "sc" in hp else ""),
            highlight=False,
        )
    if ddp:
        dist.destroy_process_group()
    return metrics


def _describe(state: dict, running: float, parts: dict) -> str:
    shown = " ".join(f"{k} {float(v):.4g}" for k, v in parts.items())
    return f"epoch {state['epoch']} loss {running:.4f} ({shown}) best val {state['best_val_loss']:.4f}"


def _agree_to_stop(patience_out: bool, out_of_time: bool, ddp: bool, device: torch.device) -> str:
    """Why to stop ("patience", "time") or "epochs" to go on; all ranks agree (rank 0's clock rules)."""
    flags = torch.tensor([float(patience_out), float(out_of_time)], device=device)
    if ddp:
        dist.broadcast(flags, src=0)
    if flags[0]:
        return "patience"
    if flags[1]:
        return "time"
    return "epochs"


def describe_split(cfg: TrainConfig, spec: AudioSpec, dataset, split) -> dict:
    """What the run trained on, for provenance and for evaluation of the held-out files."""

    def files(items):
        return [{**it.describe(), "path": str(it.path.resolve()), "cache": str(it.cache_path)} for it in items]

    return {
        "data": str(Path(cfg.data).resolve()),
        "audio": spec.to_dict(),
        "seconds": round(dataset.seconds, 1),
        "skipped": dataset.skipped,
        "train": files(split.train),
        "validation": files(split.validation),
        "heldout": files(split.heldout),
    }
