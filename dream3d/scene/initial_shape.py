"""Start a NeRF from a learned density blob instead of a fixed one.

The fixed blob bias (Magic3D/threestudio) stays in the density for the whole run, so the field
has to fight it to flatten a face or grow a corner: with the bundled prior, cubes kept a domed
top and rounded edges however the guidance was set. Here the field itself is fitted, by a few
hundred cheap supervised steps, to the same linear profile ``raw(x) = density * (1 - |x| / radius)`` of pre-activation density (with a grey
albedo). Training starts from that shape, but nothing holds it there.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class InitialShapeConfig:
    """A supervised start for the field (``steps: 0`` skips it)."""

    steps: int = 0
    """Adam steps of the fit (0: no fit; the field starts from its random initialisation)."""
    density: float = 10.0
    """Pre-activation density at the centre."""
    radius: float = 0.7
    """Radius at which the pre-activation density crosses zero."""
    albedo: float = 0.5
    """Grey level of the starting albedo."""
    points_per_step: int = 8192
    """Random points in the scene's bounding cube per step."""
    lr: float = 0.01
    """Adam learning rate of the fit."""


def blob_profile(points: torch.Tensor, density: float, radius: float) -> torch.Tensor:
    """``density * (1 - |x| / radius)`` at points ``[N,3]``."""
    return density * (1.0 - points.norm(dim=-1) / radius)


def fit_initial_shape(field: nn.Module, config: InitialShapeConfig) -> float:
    """Fit ``field``'s pre-activation density to the blob profile and its albedo to grey.

    ``field`` needs ``raw_density(points)``, ``albedo(points)`` and ``bounds_radius``. The
    density error is scaled by ``1 / density^2``, so the two terms weigh alike; returns the last loss."""
    if config.steps <= 0:
        return 0.0
    device = next(field.parameters()).device
    optimizer = torch.optim.Adam(field.parameters(), lr=config.lr)
    loss = torch.zeros(())
    for _ in range(config.steps):
        points = (torch.rand(config.points_per_step, 3, device=device) * 2.0 - 1.0) * field.bounds_radius
        target = blob_profile(points, config.density, config.radius)
        density_loss = F.mse_loss(field.raw_density(points), target) / config.density**2
        albedo = field.albedo(points)
        loss = density_loss + F.mse_loss(albedo, torch.full_like(albedo, config.albedo))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return float(loss.detach())
