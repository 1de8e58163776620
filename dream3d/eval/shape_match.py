"""Which primitive is this surface? Chamfer distance after centring, scale and a rotation
about the up axis (the only pose freedom a generated asset has: it stands on +z)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from dream3d.eval.canonical import canonical_points
from dream3d.prior.catalog import SHAPES


def chamfer(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Symmetric Chamfer distance: mean nearest-neighbour distance a->b plus b->a (halved)."""
    d = torch.cdist(a, b)  # [..., N, M]
    return 0.5 * (d.min(-1).values.mean(-1) + d.min(-2).values.mean(-1))


def normalise(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre the bounding box at the origin and scale to unit RMS radius; returns the scale."""
    centred = points - 0.5 * (points.min(0) + points.max(0))
    scale = float(np.sqrt((centred**2).sum(-1).mean()))
    return centred / max(scale, 1e-8), scale


def rotations_about_z(n: int) -> torch.Tensor:
    """``n`` rotation matrices ``[n,3,3]`` evenly spaced over a quarter turn (the cube's and
    pyramid's symmetry; the other primitives are rotationally symmetric about z)."""
    angles = torch.arange(n, dtype=torch.float32) * (0.5 * math.pi / n)
    c, s = torch.cos(angles), torch.sin(angles)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    return torch.stack([c, -s, zero, s, c, zero, zero, zero, one], -1).view(n, 3, 3)


@dataclass
class ShapeMatch:
    """The nearest primitive and the Chamfer distance to each (normalised units)."""

    shape: str
    distances: dict[str, float]

    def world_chamfer(self, shape: str, rms_radius: float) -> float:
        """Chamfer distance to ``shape`` in world units of a primitive of that RMS radius."""
        return self.distances[shape] * rms_radius


def match_shape(points: np.ndarray, n_rotations: int = 12) -> ShapeMatch:
    """Classify surface points ``[N,3]`` (world space, +z up) by the nearest primitive."""
    pred, _ = normalise(points.astype(np.float32))
    rotated = torch.einsum("rij,nj->rni", rotations_about_z(n_rotations), torch.from_numpy(pred))
    distances = {}
    for shape in SHAPES:
        target, _ = normalise(canonical_points(shape))
        distances[shape] = float(chamfer(rotated, torch.from_numpy(target)[None]).min())
    return ShapeMatch(min(distances, key=distances.get), distances)


def rms_radius(shape: str) -> float:
    """RMS distance of the canonical surface from its bounding-box centre (world units)."""
    return normalise(canonical_points(shape))[1]
