"""Checkpoints of the bundled priors' training: every stage can stop and go on.

A stage's result is saved once it is done (``stage``); a long stage saves its whole state
every few steps (``snapshot`` / ``restore``): the parts' ``state_dict``s, the random
generators and the losses so far. Files are written to a temporary name, then renamed,
so a stop never leaves half a file.
"""
from __future__ import annotations

import random
import time
from pathlib import Path

import torch


def begin_training(out: Path, work: Path | None, threads: int, seed: int) -> tuple[Path, torch.Generator]:
    """The stage-checkpoint folder (default: ``out``'s name plus ``.work``, created), torch's
    threads and global seed set, and the run's seeded generator."""
    work = work or out.with_name(out.name + ".work")
    work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    return work, torch.Generator().manual_seed(seed)


def snapshot(parts: dict, generator: torch.Generator, rng: random.Random | None, losses: list[float],
             step: int) -> dict:
    """Everything a stage needs to go on from ``step``: its parts' states, the RNGs and the losses."""
    return {"parts": {name: part.state_dict() for name, part in parts.items()}, "generator": generator.get_state(),
            "rng": None if rng is None else rng.getstate(), "losses": losses, "step": step}


def restore(checkpoint: Path | None, parts: dict, generator: torch.Generator,
            rng: random.Random | None = None) -> tuple[list[float], int]:
    """Load a ``snapshot`` into ``parts`` and the RNGs; returns ``(losses, step)``, or ``([], 0)`` without one."""
    if checkpoint is None or not checkpoint.is_file():
        return [], 0
    state = torch.load(checkpoint, weights_only=False)
    for name, part in parts.items():
        part.load_state_dict(state["parts"][name])
    generator.set_state(state["generator"])
    if rng is not None:
        rng.setstate(state["rng"])
    return state["losses"], state["step"]


def save(path: Path, state: dict) -> None:
    """``torch.save`` to a temporary file, then an atomic rename: a stop never leaves half a file."""
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    partial.replace(path)


def stage(path: Path, log: dict, name: str, build):
    """Load a finished stage's result from ``path``, or build it, time it and save it there."""
    if path.is_file():
        state = torch.load(path, weights_only=False)
        log[f"{name}_seconds"] = state["seconds"]
        return state["value"]
    tic = time.time()
    value = build()
    seconds = round(time.time() - tic, 1)
    save(path, {"value": value, "seconds": seconds})
    log[f"{name}_seconds"] = seconds
    return value


def tail(losses: list[float], n: int = 100) -> float:
    """The mean of the last ``n`` losses, rounded."""
    return round(sum(losses[-n:]) / max(1, len(losses[-n:])), 5)


def denoiser_optimisation(params: list, lr: float, warmup_steps: int, steps: int, ema_decay: float,
                          groups: list[dict] | None = None):
    """AdamW (weight decay 0.01) with a cosine schedule after a linear warm-up, and an
    exponential moving average of the weights (diffusers' ``EMAModel``, warm-up power 3/4).
    ``groups`` (parameter groups with their own ``lr``) replace ``params`` in the optimiser."""
    from diffusers.optimization import get_cosine_schedule_with_warmup
    from diffusers.training_utils import EMAModel

    optimizer = torch.optim.AdamW(groups or params, lr=lr, weight_decay=1e-2)
    schedule = get_cosine_schedule_with_warmup(optimizer, warmup_steps, steps)
    return optimizer, schedule, EMAModel(params, decay=ema_decay, use_ema_warmup=True, power=0.75)


def min_snr_weights(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-gamma loss weights ``min(SNR(t), gamma) / SNR(t)`` for epsilon prediction (Hang et
    al. 2023), with ``SNR(t) = abar_t / (1 - abar_t)``."""
    snr = alphas_cumprod[timesteps] / (1.0 - alphas_cumprod[timesteps])
    return snr.clamp(max=gamma) / snr


def high_noise_weights(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor, cap: float) -> torch.Tensor:
    """``clamp(1 / SNR(t), 1, cap)``: where noise dominates (SNR < 1) the epsilon error is weighted
    as the error of the clean-image estimate it implies, ``|x0_hat - x0|^2 = |eps_hat - eps|^2 / SNR``
    (Ho et al. 2020, eq. 4 solved for x0), up to ``cap``. The eps objective alone barely sees the
    high-noise steps where a sample's layout (its orientation) is decided."""
    snr = alphas_cumprod[timesteps] / (1.0 - alphas_cumprod[timesteps])
    return (1.0 / snr).clamp(1.0, cap)


def epsilon_loss(eps: torch.Tensor, noise: torch.Tensor, alphas_cumprod: torch.Tensor, timesteps: torch.Tensor,
                 gamma: float, high_noise_cap: float = 1.0) -> torch.Tensor:
    """The DDPM epsilon objective (Ho et al. 2020), each example's mean squared error weighted by
    ``min_snr_weights`` (and by ``high_noise_weights`` when ``high_noise_cap`` > 1):
    ``mean_b w_b |eps_b - noise_b|^2 / d``."""
    weight = min_snr_weights(alphas_cumprod, timesteps, gamma)  # [B]
    if high_noise_cap > 1.0:
        weight = weight * high_noise_weights(alphas_cumprod, timesteps, high_noise_cap)
    return (weight * (eps - noise).pow(2).mean(dim=tuple(range(1, eps.dim())))).mean()


def update(loss: torch.Tensor, optimizer: torch.optim.Optimizer, params: list, schedule, ema=None) -> None:
    """One optimiser step: gradients of ``loss``, clipped to norm 1, the step, the learning-rate
    schedule's step and, when given, the moving average's."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    schedule.step()
    if ema is not None:
        ema.step(params)


def write_training_log(folder: Path, log: dict) -> None:
    """Add the folder's size in MB to ``log`` and write it as the folder's ``training_log.json``."""
    import json

    log["size_mb"] = round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20, 2)
    (folder / "training_log.json").write_text(json.dumps(log, indent=1) + "\n")


def add_run_arguments(parser, steps: bool = True) -> None:
    """The options every training command has: --quick, --seed, --threads, [--steps,] --work-dir."""
    parser.add_argument("--quick", action="store_true", help="tiny models, a few steps (smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    if steps:
        parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="stage checkpoints (default: the output folder's name plus .work); a rerun continues")


def apply_run_arguments(cfg, args) -> None:
    """Set ``cfg.threads`` and ``cfg.steps`` from ``add_run_arguments``'s options where given."""
    if args.threads is not None:
        cfg.threads = args.threads
    if getattr(args, "steps", None) is not None:
        cfg.steps = args.steps


def publish(out: Path, write) -> None:
    """Write a prior's folder beside ``out`` (``write(folder)``), then put it in ``out``'s place:
    a stop while writing leaves the previous ``out`` as it was."""
    import shutil

    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    write(partial)
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
