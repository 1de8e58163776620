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

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch
from torch import Tensor

from dream3d.cameras import Cameras
from dream3d.export.backproject import BackprojectConfig, backprojection_cameras, sample_at_pixels
from dream3d.export.grid import grid_rows
from dream3d.render.types import Render

Renderer = Callable[[Cameras, Tensor], Render]
"""``render(cameras, background [3]) -> Render`` (rgb over the background, and alpha)."""


@dataclass
class SilhouetteConfig:
    """The views of the silhouette hull and what counts as foreground in them."""

    enabled: bool = True
    """Intersect the solid with the silhouette hull (scenes that render their own views only)."""
    rig: BackprojectConfig = field(default_factory=lambda: BackprojectConfig(resolution=96))
    """The views: rings of azimuths at a few elevations, and the poles (96 px: about one pixel per
    voxel of a 96^3 export grid; rendering is most of the hull's cost)."""
    min_alpha: float = 0.5
    """A grid node is inside when its projection is at least this much foreground in every view."""
    background_tolerance: float = 0.3
    """With one plain training background: pixels whose colour is within this (largest channel
    difference) of it count as background."""


def foreground(render: Render, background: Optional[Tensor], tolerance: float) -> Tensor:
    """Soft foreground ``[B,H,W]``: the render's alpha, zeroed where its colour is the
    ``background [3]`` (when one is given) within ``tolerance``."""
    alpha = render.alpha[..., 0].float()
    if background is None:
        return alpha
    difference = (render.rgb.float() - background.to(render.rgb)).abs().amax(-1)  # [B,H,W]
    return torch.where(difference > tolerance, alpha, torch.zeros_like(alpha))


@torch.no_grad()
def silhouette_hull(render: Renderer, resolution: int, radius: float, config: SilhouetteConfig,
                    background: Optional[Tensor] = None, device: torch.device | None = None,
                    chunk_size: int = 262144) -> np.ndarray:
    """Per grid node of a ``resolution^3`` grid over ``[-radius, radius]^3`` (the density grid's
    layout), the smallest foreground value of its projections into the rig's views, ``[R,R,R]``.

    ``background [3]``: the one plain colour the scene was trained on (None: alpha alone).
    Nodes that project outside a view, or behind it, are outside the hull. The views are
    rendered once; the grid is projected into them ``chunk_size`` nodes at a time.
    """
    device = device or torch.device("cpu")
    cameras = backprojection_cameras(config.rig).to(device)
    plain = torch.ones(3, device=device) if background is None else background.to(device)
    per_batch = config.rig.views_per_batch
    masks = torch.cat([foreground(render(cameras[start:start + per_batch], plain), background,
                                  config.background_tolerance)
                       for start in range(0, len(cameras), per_batch)])[:, None]  # [V,1,H,W]
    rows_per_chunk = max(1, chunk_size // resolution)
    hull = np.empty((resolution * resolution, resolution), dtype=np.float32)
    for start in range(0, resolution * resolution, rows_per_chunk):
        stop = min(start + rows_per_chunk, resolution * resolution)
        points = grid_rows(resolution, radius, start, stop, device).reshape(-1, 3)  # [K,3]
        uv, depth = cameras.project(points[None].expand(len(cameras), -1, -1))  # [V,K,2], [V,K]
        sampled = sample_at_pixels(masks, uv)[:, 0]  # [V,K]
        sampled = torch.where(depth > 0, sampled, torch.zeros_like(sampled))
        hull[start:stop] = sampled.amin(0).reshape(stop - start, resolution).cpu().numpy()
    return hull.reshape(resolution, resolution, resolution)
