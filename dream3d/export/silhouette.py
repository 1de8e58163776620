"""The silhouette hull of a renderable scene: what every view shows as foreground.

Shape from silhouettes (Laurentini, "The visual hull concept for silhouette-based image
understanding", TPAMI 1994): a point is inside the hull when it projects onto the object in
every view. The scene is rendered from a fixed rig (the back-projection's rings and poles);
each grid node takes the smallest foreground value of its projections, so ``hull >= 0.5``
keeps the nodes that every view sees as object.

A pixel is foreground where the render is opaque. When the prior only ever saw one plain
background colour, a render that shows that colour is also background, however opaque: the
prior could not tell it from empty space, so nothing kept it empty. DreamGaussian's Gaussians
on the bundled prior's white background fill a torus's hole with such near-white Gaussians,
and the density alone meshes them as a membrane.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

from dream3d.cameras import Cameras
from dream3d.export.backproject import BackprojectConfig, backprojection_cameras, sample_at_pixels
from dream3d.export.grid import DensityGrid
from dream3d.render.types import Render

log = logging.getLogger(__name__)

Renderer = Callable[[Cameras, Tensor], Render]
"""``render(cameras, background [3]) -> Render`` (rgb over the background, and alpha)."""


@dataclass
class SilhouetteConfig:
    """The views of the silhouette hull and what counts as foreground in them."""

    enabled: Optional[bool] = None
    """Intersect the solid with the silhouette hull (scenes that render their own views only).
    None: the scene's default, on for Gaussians (whose density alone meshes membranes and
    floaters) and off for a NeRF."""
    rig: BackprojectConfig = field(default_factory=lambda: BackprojectConfig(resolution=96))
    """The views: rings of azimuths at a few elevations, and the poles (96 px: about one pixel per
    voxel of a 96^3 export grid; rendering is most of the hull's cost)."""
    min_alpha: float = 0.5
    """A view sees a grid node as foreground when its projection is at least this much foreground."""
    outside_views: int = 1
    """A grid node is outside the hull when at least this many views see it as background. 1 is the
    visual hull. 2 keeps the nodes that a single view sees through, where a gap between sparse
    Gaussians, bigger than ``max_hole_fraction``, would carve a tunnel; a true hole, a torus's or
    a mug handle's, is seen through from several views of the rig."""
    background_tolerance: float = 0.3
    """With one plain training background: pixels whose colour is within this (largest channel
    difference) of it count as background."""
    carve: bool = True
    """Also drop the occupied voxels outside the hull (the solid is cut to the visual hull). False:
    the hull only bounds what the closing adds, so a thin part whose opacity stays under
    ``min_alpha`` in some view (a NeRF mug's handle seen edge-on) is kept."""
    max_hole_fraction: float = 0.01
    """Holes in a view's foreground smaller than this fraction of its area are filled: pinholes
    between sparse Gaussians would carve a straight tunnel through the hull. A mug handle's hole,
    seen from the side, is larger (2% of the mug's area at 96 px)."""


def fill_pinholes(masks: Tensor, min_alpha: float, max_hole_fraction: float) -> Tensor:
    """``masks [V,H,W]`` with each view's small holes set to 1: the connected background regions
    (below ``min_alpha``) that do not touch the image border and cover less than
    ``max_hole_fraction`` of that view's foreground."""
    filled = masks.clone()
    for view, mask in enumerate((masks >= min_alpha).cpu().numpy()):
        holes, count = ndimage.label(ndimage.binary_fill_holes(mask) & ~mask)
        if count == 0:
            continue
        sizes = ndimage.sum_labels(np.ones_like(holes), holes, index=np.arange(1, count + 1))
        small = np.isin(holes, 1 + np.flatnonzero(sizes < max_hole_fraction * mask.sum()))
        filled[view][torch.from_numpy(small).to(masks.device)] = 1.0
    return filled


def foreground(render: Render, background: Optional[Tensor], tolerance: float) -> Tensor:
    """Soft foreground ``[B,H,W]``: the render's alpha, zeroed where its colour is the
    ``background [3]`` (when one is given) within ``tolerance``."""
    alpha = render.alpha[..., 0].float()
    if background is None:
        return alpha
    difference = (render.rgb.float() - background.to(render.rgb)).abs().amax(-1)  # [B,H,W]
    return torch.where(difference > tolerance, alpha, torch.zeros_like(alpha))


@dataclass
class SilhouetteViews:
    """The rig's soft foreground masks ``[V,1,H,W]`` and their cameras, rendered once."""

    masks: Tensor
    cameras: Cameras

    @torch.no_grad()
    def hull_at(self, points: Tensor, chunk_size: int = 262144, outside_views: int = 1) -> Tensor:
        """The ``outside_views``-th smallest foreground value ``[K]`` of world ``points [K,3]`` over
        the views (1: the smallest); a point outside a view, or behind it, is background there.
        ``chunk_size`` points at a time."""
        cameras = self.cameras.to(points.device)
        rank = min(max(outside_views, 1), len(cameras))
        values = []
        for start in range(0, points.shape[0], chunk_size):
            chunk = points[start:start + chunk_size]
            uv, depth = cameras.project(chunk[None].expand(len(cameras), -1, -1))  # [V,K,2], [V,K]
            sampled = sample_at_pixels(self.masks, uv)[:, 0]  # [V,K]
            sampled = torch.where(depth > 0, sampled, torch.zeros_like(sampled))
            values.append(sampled.amin(0) if rank == 1 else torch.kthvalue(sampled, rank, dim=0).values)
        return torch.cat(values) if values else points.new_zeros(0)


SilhouetteSource = Callable[[DensityGrid], SilhouetteViews]
"""Silhouettes made from the export's own density grid (``dream3d.export.density_silhouette``)."""


@torch.no_grad()
def render_silhouettes(render: Renderer, config: SilhouetteConfig, background: Optional[Tensor] = None,
                       device: torch.device | None = None) -> SilhouetteViews:
    """The rig's views of a scene as soft foreground masks.

    ``background [3]``: the one plain colour the scene was trained on (None: alpha alone).
    """
    began = time.perf_counter()
    device = device or torch.device("cpu")
    cameras = backprojection_cameras(config.rig).to(device)
    plain = torch.ones(3, device=device) if background is None else background.to(device)
    per_batch = config.rig.views_per_batch
    masks = torch.cat([foreground(render(cameras[start:start + per_batch], plain), background,
                                  config.background_tolerance)
                       for start in range(0, len(cameras), per_batch)])  # [V,H,W]
    masks = fill_pinholes(masks, config.min_alpha, config.max_hole_fraction)
    log.info("silhouettes: %d views at %d px in %.1f s", len(cameras), config.rig.resolution,
             time.perf_counter() - began)
    return SilhouetteViews(masks[:, None], cameras)


def carve(occupied: np.ndarray, radius: float, views: SilhouetteViews, min_alpha: float,
          chunk_size: int = 262144, outside_views: int = 1) -> np.ndarray:
    """``occupied [R,R,R]`` (grid nodes over ``[-radius, radius]^3``, the density grid's layout)
    without the nodes outside the silhouette hull: those that at least ``outside_views`` views see
    as background (foreground below ``min_alpha``). Only occupied nodes are projected."""
    nodes = np.argwhere(occupied)  # [K,3] of (i, j, k)
    axis = torch.linspace(-radius, radius, occupied.shape[0], device=views.masks.device)  # as grid_rows
    points = axis[torch.from_numpy(nodes).to(axis.device)]  # [K,3]
    inside = (views.hull_at(points, chunk_size, outside_views) >= min_alpha).cpu().numpy()
    carved = np.zeros_like(occupied)
    carved[tuple(nodes[inside].T)] = True
    return carved
