"""Timestep schedules shared by every guidance: which diffusion timesteps a training step draws.

A schedule is a pure function of the training step (no running state), so a resumed run
draws exactly what an uninterrupted one does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor



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
    schedule: Literal["random", "deterministic"] = "random"
    """``random``: t ~ U[min, max(step)]. ``deterministic``: t falls linearly with training
    progress from max to min, as in DreamGaussian (Tang et al. 2023)."""


@dataclass
class TimestepSchedule:
    """Stateless map from the training step to a timestep range (explicit inputs only)."""

    config: TimestepConfig
    num_train_timesteps: int
    max_steps: int

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
