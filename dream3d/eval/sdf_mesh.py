"""Triangle meshes of signed distance functions: marching cubes on a regular grid.

The grid's nodes sit half a spacing off the multiples of the spacing, so the planar faces
of the bundled shapes (all at multiples of 0.005) never pass through a node: no sample
is exactly zero, and marching cubes (Lorensen & Cline 1987, via scikit-image's Lewiner
variant) gives a closed, manifold surface wherever the solid is thicker than a cell.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import trimesh
from skimage.measure import marching_cubes
from torch import Tensor

SDF = Callable[[Tensor], Tensor]
"""``points [N,3] -> signed distance [N]``, negative inside."""


def sample_grid(sdf: SDF, low: np.ndarray, spacing: float, shape: Sequence[int], chunk: int = 1 << 20) -> np.ndarray:
    """``sdf`` at the nodes ``low + spacing * (i + 1/2)`` of a grid of ``shape`` ``(nx, ny, nz)``,
    evaluated in float32 (ample for grids of thousandths); returns ``[nx, ny, nz]``."""
    axes = [low[i] + spacing * (np.arange(shape[i]) + 0.5) for i in range(3)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3).astype(np.float32)  # [N,3]
    values = np.empty(len(points), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(points), chunk):
            values[start : start + chunk] = sdf(torch.from_numpy(points[start : start + chunk])).numpy()
    return values.reshape(*shape)


def mesh_from_sdf(
    sdf: SDF,
    low: Sequence[float],
    high: Sequence[float],
    spacing: float = 0.005,
    margin: float = 0.02,
) -> trimesh.Trimesh:
    """The zero level set of ``sdf`` inside the box ``[low, high]`` grown by ``margin``.

    Marching cubes of the SDF sampled every ``spacing`` world units; faces wound
    counter-clockwise seen from outside (outward normals, positive volume). The surface
    lies within about ``spacing`` of the true one (less on flat faces, where the linear
    interpolation of a distance field is exact); sharp edges are bevelled by up to a cell.
    """
    lo = np.asarray(low, dtype=np.float64) - margin
    hi = np.asarray(high, dtype=np.float64) + margin
    lo = np.floor(lo / spacing) * spacing  # node i sits at lo + spacing * (i + 1/2)
    shape = tuple(int(n) for n in np.ceil((hi - lo) / spacing).astype(int) + 1)
    values = sample_grid(sdf, lo, spacing, shape)
    if values.min() >= 0.0 or values.max() <= 0.0:
        raise ValueError("the SDF has no zero crossing inside the box: nothing to mesh")
    vertices, faces, _, _ = marching_cubes(values, level=0.0, spacing=(spacing,) * 3)
    mesh = trimesh.Trimesh(vertices + lo + 0.5 * spacing, faces, process=True)
    if mesh.volume < 0:
        mesh.invert()
    return mesh
