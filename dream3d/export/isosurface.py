"""Marching cubes on a density grid, at a fixed or automatic density level.

Marching cubes: Lorensen & Cline, SIGGRAPH 1987 (scikit-image's Lewiner variant).
Otsu's threshold: Otsu, IEEE Trans. SMC 1979.
"""
from __future__ import annotations

import logging

import numpy as np
from scipy.ndimage import binary_fill_holes
from skimage.filters import threshold_otsu
from skimage.measure import marching_cubes

from dream3d.export.grid import DensityGrid
from dream3d.export.types import ExportError, Mesh

log = logging.getLogger(__name__)


def auto_threshold(values: np.ndarray, floor: float = 1.0) -> float:
    """A surface level derived from the density distribution ``values [...]``.

    Otsu's method on ``log(1 + density)`` splits the samples into empty and occupied
    (the log keeps a heavy tail of very dense voxels from dominating). The level is half
    the median density of the occupied samples, i.e. the surface sits where density has
    fallen to half its typical interior value; it is never below ``floor``.
    """
    logs = np.log1p(np.clip(values, 0.0, None)).ravel()
    if logs.max() - logs.min() < 1e-6:
        return float(floor)
    split = threshold_otsu(logs)
    occupied = values.ravel()[logs > split]
    level = 0.5 * float(np.median(occupied)) if occupied.size else float(floor)
    return max(level, float(floor))


def resolve_threshold(grid: DensityGrid, threshold: float | None, floor: float = 1.0) -> float:
    """``threshold`` when given, else :func:`auto_threshold` of the grid."""
    if threshold is not None:
        return float(threshold)
    level = auto_threshold(grid.values, floor)
    log.info("auto export threshold: %.4g", level)
    return level


def fill_cavities(grid: DensityGrid, threshold: float) -> DensityGrid:
    """The grid with every enclosed pocket below ``threshold`` raised to just above it.

    A NeRF's interior is never seen in training, so its density is free to dip below the
    surface level; marching cubes then meshes those pockets as shells inside the object.
    Pockets are the below-level regions not connected to the grid's border
    (``scipy.ndimage.binary_fill_holes``, 6-connected); the outer surface is unchanged."""
    occupied = grid.values > threshold
    pockets = binary_fill_holes(occupied) & ~occupied
    if not pockets.any():
        return grid
    values = grid.values.copy()
    values[pockets] = np.float32(max(2.0 * threshold, threshold + 1.0))
    log.info("filled %d voxels of enclosed pockets below the surface level", int(pockets.sum()))
    return DensityGrid(values, grid.radius)


def extract_isosurface(grid: DensityGrid, threshold: float) -> Mesh:
    """Triangle mesh of the surface ``density == threshold``, outward-facing, closed.

    The grid is padded by one empty sample on every side, so surfaces that reach the
    bounds are closed there instead of left open. Raises :class:`ExportError` when no
    sample is above the threshold (or all are).
    """
    values = grid.values
    lo, hi = float(values.min()), float(values.max())
    if not hi > threshold:
        raise ExportError(
            f"Nothing to export: no density above the threshold {threshold:.4g} "
            f"(density in the grid ranges from {lo:.4g} to {hi:.4g}). "
            "Try a lower `export.threshold` (or leave it unset for the automatic level), "
            "train longer, or check that the scene is inside `export.bounds_radius`."
        )
    empty = min(lo, threshold) - 1.0
    padded = np.pad(values, 1, mode="constant", constant_values=empty)
    h = grid.spacing
    verts, faces, _, _ = marching_cubes(padded, level=threshold, spacing=(h, h, h), allow_degenerate=False)
    if faces.shape[0] == 0:
        raise ExportError(f"Marching cubes found no surface at threshold {threshold:.4g}; try another `export.threshold`.")
    vertices = (verts - h - grid.radius).astype(np.float32)  # undo the padding, centre the grid
    # scikit-image orients triangles towards increasing values; flip so normals point outwards.
    faces = np.ascontiguousarray(faces[:, ::-1]).astype(np.int64)
    log.info("marching cubes at %.4g: %d vertices, %d faces", threshold, len(vertices), len(faces))
    return Mesh(vertices, faces)
