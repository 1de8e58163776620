"""An occupancy grid that lets the volume renderer skip empty space (torch, CPU).

The same rule as nerfacc's ``OccGridEstimator`` (Li et al. 2023): each cell keeps an
exponential moving maximum of the value at a random point inside it,
``g <- max(decay * g, f(x))``, and a cell is occupied while ``g > min(threshold, mean(g))``.
The volume renderer passes ``f = density * step`` (the opacity scale of one sample step), as
nerfacc's users do with ``occ_eval_fn``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn


@dataclass
class OccupancyGridConfig:
    """Empty-space skipping."""

    enabled: bool = True
    """Mask samples in empty cells before the field is queried."""
    resolution: int = 32
    """Cells per side of the grid over the scene's bounding cube."""
    update_every: int = 16
    """Training steps between grid updates."""
    decay: float = 0.95
    """Decay of each cell's moving maximum per update."""
    threshold: float = 0.01
    """Value (density times the sample step) below which a cell is empty, capped by the mean
    over cells: nerfacc's ``occ_thre``."""
    dilation: int = 1
    """Cells of dilation around occupied cells, so surfaces never fall in a gap."""


class OccupancyGrid(nn.Module):
    """Explicit state: ``density [R,R,R]``, ``mask [R,R,R]`` and whether it has been filled."""

    def __init__(self, config: OccupancyGridConfig, bounds_radius: float):
        super().__init__()
        self.config = config
        self.bounds_radius = bounds_radius
        r = config.resolution
        self.register_buffer("density", torch.zeros(r, r, r))
        self.register_buffer("mask", torch.ones(r, r, r, dtype=torch.bool))
        self.register_buffer("filled", torch.zeros((), dtype=torch.bool))

    def cell_index(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """Integer cells ``[...,3]`` of world points and whether they lie inside the grid."""
        r = self.config.resolution
        unit = (points / self.bounds_radius + 1.0) * 0.5  # [0,1] inside the cube
        inside = ((unit >= 0) & (unit < 1)).all(-1)
        index = (unit * r).floor().long().clamp(0, r - 1)
        return index, inside

    def occupied(self, points: Tensor) -> Tensor:
        """Bool ``[...]``: the point lies in an occupied cell (all True when disabled)."""
        if not self.config.enabled:
            return torch.ones(points.shape[:-1], dtype=torch.bool, device=points.device)
        index, inside = self.cell_index(points)
        return inside & self.mask[index[..., 0], index[..., 1], index[..., 2]]

    @torch.no_grad()
    def update(self, step: int, density_fn: Callable[[Tensor], Tensor], force: bool = False) -> bool:
        """Refresh the grid every ``update_every`` steps; returns whether it did."""
        cfg = self.config
        if not cfg.enabled or (not force and step % cfg.update_every != 0):
            return False
        r = cfg.resolution
        cells = torch.stack(torch.meshgrid(*[torch.arange(r)] * 3, indexing="ij"), -1).view(-1, 3)
        jitter = torch.rand(cells.shape, generator=None)
        points = ((cells + jitter) / r * 2.0 - 1.0) * self.bounds_radius
        sigma = density_fn(points.to(self.density.device)).view(r, r, r)
        self.density = torch.where(self.filled, torch.maximum(self.density * cfg.decay, sigma), sigma)
        self.filled.fill_(True)
        threshold = min(cfg.threshold, float(self.density.mean()))
        mask = self.density > threshold
        if cfg.dilation > 0:
            k = 2 * cfg.dilation + 1
            mask = torch.nn.functional.max_pool3d(mask[None, None].float(), k, stride=1, padding=cfg.dilation)[0, 0] > 0
        self.mask = mask
        return True

    def occupancy_fraction(self) -> float:
        return float(self.mask.float().mean())
