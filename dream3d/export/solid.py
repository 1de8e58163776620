"""The ``solid`` surface: a cleaned voxel solid, then the smooth boundary of it.

Marching cubes straight on a noisy density (3D Gaussians, a NeRF's grid) yields a lumpy
surface pierced by small tunnels: a DreamGaussian cube had genus 20, a torus genus 10, and
floaters cling to the object. Here the occupied voxels are cleaned first, with the
morphological operators of Serra's *Image Analysis and Mathematical Morphology* (1982):

- a closing with a ball of ``close_voxels`` fills tunnels and cracks narrower than about its
  diameter (a torus's hole, far wider, stays open). When the scene's silhouettes are known, the
  closing adds only voxels inside their hull: a hole that some view sees through (a mug's
  handle) stays open however wide the ball, while a tunnel that no view sees through is filled;
- an opening with a ball of ``open_voxels`` cuts thin spikes and threads;
- enclosed pockets are filled, and only the largest connected piece is kept, so no floater
  survives;
- the boundary is the 0.5 level of the solid's indicator blurred by a Gaussian of
  ``smooth_voxels`` (marching cubes on a step function gives a staircase), with the pockets
  that the blur encloses filled again.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

import numpy as np
from scipy import ndimage

from dream3d.export.grid import DensityGrid
from dream3d.export.isosurface import extract_isosurface, fill_cavities
from dream3d.export.types import ExportError, Mesh

log = logging.getLogger(__name__)


def ball(radius: float) -> np.ndarray:
    """A boolean ball of ``radius`` voxels (a structuring element) ``[2k+1]^3``, k = ceil(radius)."""
    k = int(np.ceil(radius))
    z, y, x = np.mgrid[-k:k + 1, -k:k + 1, -k:k + 1]
    return (x * x + y * y + z * z) <= radius * radius + 1e-6


def largest_piece(occupied: np.ndarray) -> np.ndarray:
    """The largest 6-connected piece of ``occupied`` (boolean ``[R,R,R]``)."""
    labels, count = ndimage.label(occupied)
    if count <= 1:
        return occupied
    sizes = ndimage.sum_labels(occupied, labels, index=np.arange(1, count + 1))
    log.info("solid: kept the largest of %d pieces (%d of %d voxels)", count, int(sizes.max()), int(sizes.sum()))
    return labels == 1 + int(np.argmax(sizes))


Keep = Callable[[np.ndarray], np.ndarray]
"""``keep(candidates [R,R,R] bool) -> [R,R,R] bool``: the candidate voxels that may be added."""


def clean_solid(occupied: np.ndarray, close_voxels: float = 2.0, open_voxels: float = 1.0,
                keep_closed: Optional[Keep] = None) -> np.ndarray:
    """``occupied [R,R,R]`` closed, opened, with enclosed pockets filled and only its largest piece.

    ``keep_closed``: which of the voxels that the closing adds to keep (None: all of them), e.g.
    those inside the silhouette hull (``dream3d.export.silhouette.carve``).
    The grid is padded first, so that the closing does not glue the solid to the grid's border.
    """
    pad = int(np.ceil(max(close_voxels, open_voxels))) + 1
    solid = np.pad(occupied, pad)
    if close_voxels > 0:
        solid = ndimage.binary_closing(solid, ball(close_voxels))
        if keep_closed is not None:
            inner = (slice(pad, -pad),) * 3
            solid[inner] = occupied | keep_closed(solid[inner] & ~occupied)
    if open_voxels > 0:
        solid = ndimage.binary_opening(solid, ball(open_voxels))
    solid = solid[pad:-pad, pad:-pad, pad:-pad]
    solid = ndimage.binary_fill_holes(solid)
    return largest_piece(solid) if solid.any() else solid


def solid_surface(occupied: np.ndarray, radius: float, close_voxels: float = 2.0, open_voxels: float = 1.0,
                  smooth_voxels: float = 1.0, keep_closed: Optional[Keep] = None) -> Mesh:
    """The smooth, closed boundary of ``clean_solid(occupied)`` on a grid over ``[-radius, radius]^3``."""
    solid = clean_solid(occupied, close_voxels, open_voxels, keep_closed)
    if not solid.any():
        raise ExportError("Nothing to export: no voxel is left of the solid once it is cleaned. Try a lower "
                          "`export.threshold`, smaller `export.close_voxels`/`export.open_voxels`, or train longer.")
    indicator = DensityGrid(solid.astype(np.float32), radius)
    if smooth_voxels > 0:
        # A pocket joined to the outside only through a voxel's edge or corner is not filled
        # above (6-connected); the blur closes that gap and would leave it as an inner shell.
        indicator = fill_cavities(DensityGrid(ndimage.gaussian_filter(indicator.values, smooth_voxels), radius), 0.5)
    return extract_isosurface(indicator, 0.5)
