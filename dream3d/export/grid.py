"""Scene density sampled on a regular grid, queried in chunks."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

log = logging.getLogger(__name__)


class ExportableScene(Protocol):
    """All the exporter needs from a scene: world-space density and albedo."""

    def density(self, points: Tensor) -> Tensor:  # [N,3] -> [N]
        ...

    def albedo(self, points: Tensor) -> Tensor:  # [N,3] -> [N,3] in [0,1]
        ...


@dataclass
class DensityGrid:
    """Density samples at the nodes of a cubic grid."""

    values: np.ndarray  # [R,R,R] float32, values[i, j, k] at (axis[i], axis[j], axis[k])
    radius: float  # the grid spans [-radius, radius]^3

    @property
    def resolution(self) -> int:
        return int(self.values.shape[0])

    @property
    def spacing(self) -> float:
        """Distance between neighbouring samples."""
        return 2.0 * self.radius / (self.resolution - 1)

    def axis(self) -> np.ndarray:
        """Coordinates ``[R]`` of the samples along each axis."""
        return np.linspace(-self.radius, self.radius, self.resolution, dtype=np.float32)


def scene_device(scene: object) -> torch.device:
    """The device of a scene's parameters when it is an ``nn.Module`` with any, else CPU."""
    if isinstance(scene, torch.nn.Module):
        for p in scene.parameters():
            return p.device
    return torch.device("cpu")


def grid_rows(resolution: int, radius: float, start: int, stop: int, device: torch.device) -> Tensor:
    """World positions ``[stop-start,R,3]`` of grid rows ``start..stop``.

    Row ``r`` holds the ``R`` samples with ``i = r // R``, ``j = r % R`` and every ``k``
    (x slowest, z fastest), so rows in order flatten to the grid's C order.
    """
    axis = torch.linspace(-radius, radius, resolution, device=device)  # [R]
    rows = torch.arange(start, stop, device=device)
    n = rows.numel()
    x = axis[rows // resolution][:, None].expand(n, resolution)
    y = axis[rows % resolution][:, None].expand(n, resolution)
    z = axis[None, :].expand(n, resolution)
    return torch.stack([x, y, z], dim=-1)


@torch.no_grad()
def query_chunked(fn, points: Tensor, chunk_size: int) -> Tensor:
    """``fn`` applied to ``points [N,3]`` in chunks, concatenated along the first axis."""
    return torch.cat([fn(points[s : s + chunk_size]) for s in range(0, points.shape[0], chunk_size)])


@torch.no_grad()
def density_grid(
    scene: ExportableScene,
    resolution: int,
    radius: float = 1.0,
    chunk_size: int = 262144,
    device: torch.device | None = None,
    progress: bool = True,
) -> DensityGrid:
    """Sample ``scene.density`` on a ``resolution^3`` grid over ``[-radius, radius]^3``."""
    if resolution < 2:
        raise ValueError(f"export.resolution must be at least 2, got {resolution}")
    device = scene_device(scene) if device is None else device
    n_rows = resolution * resolution
    rows_per_chunk = max(1, chunk_size // resolution)
    values = np.empty((n_rows, resolution), dtype=np.float32)
    starts = range(0, n_rows, rows_per_chunk)
    for start in tqdm(starts, desc="density grid", unit="chunk", disable=not progress, leave=False):
        stop = min(start + rows_per_chunk, n_rows)
        points = grid_rows(resolution, radius, start, stop, device).reshape(-1, 3)  # [n*R,3]
        sigma = scene.density(points)  # [n*R]
        values[start:stop] = sigma.reshape(stop - start, resolution).float().cpu().numpy()
    values = np.nan_to_num(values, nan=0.0, posinf=np.finfo(np.float32).max, neginf=0.0)
    log.info("density grid %d^3: min %.4g, max %.4g", resolution, float(values.min()), float(values.max()))
    return DensityGrid(values.reshape(resolution, resolution, resolution), radius)
