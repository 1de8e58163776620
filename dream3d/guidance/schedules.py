"""Timestep schedules and SDS weightings shared by every guidance.

Weightings w(t), with abar_t the cumulative product of the noise schedule:
- ``sds``: ``1 - abar_t`` (DreamFusion, Poole et al. 2022, sec. 3: w(t) = sigma_t^2);
- ``uniform``: 1;
- ``fantasia3d``: ``sqrt(abar_t) * (1 - abar_t)`` (Fantasia3D, Chen et al. 2023).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

WEIGHTINGS = ("sds", "uniform", "fantasia3d")
SCHEDULES = ("random", "deterministic")


@dataclass
class TimestepConfig:
    """Which diffusion timesteps are drawn at each training step."""

    min_step_percent: float = 0.02
    """Smallest timestep, as a fraction of the prior's training timesteps."""
    max_step_percent: float = 0.98
    """Largest timestep at the start of training."""
    max_step_percent_end: float = 0.5
    """Largest timestep once annealing has finished (equal to the start disables it)."""
    anneal_start_step: int = 0
    """Step at which the largest timestep starts to decay linearly."""
    anneal_end_step: int = 0
    """Step at which the decay ends; 0 means the run's last step."""
    schedule: str = "random"
    """``random``: t ~ U[min, max(step)]. ``deterministic``: t falls linearly with training
    progress from max to min, as in DreamGaussian (Tang et al. 2023)."""


@dataclass
class TimestepSchedule:
    """Stateless map from the training step to a timestep range (explicit inputs only)."""

    config: TimestepConfig
    num_train_timesteps: int
    max_steps: int

    def __post_init__(self) -> None:
        if self.config.schedule not in SCHEDULES:
            raise ValueError(f"timestep schedule must be one of {SCHEDULES}, got {self.config.schedule!r}")

    def _anneal_end(self) -> int:
        return self.config.anneal_end_step or self.max_steps

    def max_percent(self, step: int) -> float:
        """The largest timestep fraction at ``step`` (linear decay between start and end)."""
        cfg = self.config
        start, end = cfg.anneal_start_step, self._anneal_end()
        progress = min(max((step - start) / max(end - start, 1), 0.0), 1.0)
        return cfg.max_step_percent + (cfg.max_step_percent_end - cfg.max_step_percent) * progress

    def bounds(self, step: int) -> tuple[int, int]:
        """Inclusive ``(min_t, max_t)`` at ``step``."""
        low = int(self.config.min_step_percent * self.num_train_timesteps)
        high = int(self.max_percent(step) * self.num_train_timesteps)
        return low, max(high, low)

    def sample(self, step: int, batch_size: int, device: torch.device) -> Tensor:
        """Timesteps ``[B]`` (int64) for one training step; draws from the global RNG."""
        low, high = self.bounds(step)
        if self.config.schedule == "deterministic":
            progress = min(step / max(self.max_steps, 1), 1.0)
            t = round(high - (high - low) * progress)
            return torch.full((batch_size,), t, dtype=torch.long, device=device)
        return torch.randint(low, high + 1, (batch_size,), dtype=torch.long).to(device)


def weighting(name: str, alphas_cumprod: Tensor, timesteps: Tensor) -> Tensor:
    """w(t) ``[B]`` for the named weighting (see module docstring)."""
    abar = alphas_cumprod[timesteps].float()
    if name == "sds":
        return 1.0 - abar
    if name == "uniform":
        return torch.ones_like(abar)
    if name == "fantasia3d":
        return abar.sqrt() * (1.0 - abar)
    raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {name!r}")


def classifier_free_guidance(eps_uncond: Tensor, eps_cond: Tensor, scale: float) -> Tensor:
    """``eps_u + s (eps_c - eps_u)`` (Ho & Salimans 2022, eq. 6)."""
    return eps_uncond + scale * (eps_cond - eps_uncond)

