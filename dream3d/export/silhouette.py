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
import torch.nn.functional as F
from torch import Tensor

from dream3d.cameras import Cameras
from dream3d.export.backproject import BackprojectConfig, backprojection_cameras
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
                    background: Optional[Tensor] = None, device: torch.device | None = None) -> np.ndarray:
    """Per grid node of a ``resolution^3`` grid over ``[-radius, radius]^3`` (the density grid's
    layout), the smallest foreground value of its projections into the rig's views, ``[R,R,R]``.

    ``background [3]``: the one plain colour the scene was trained on (None: alpha alone).
    Nodes that project outside a view are outside the hull.
    """
    device = device or torch.device("cpu")
    cameras = backprojection_cameras(config.rig).to(device)
    points = grid_rows(resolution, radius, 0, resolution * resolution, device).reshape(-1, 3)  # [N,3]
    hull = torch.ones(points.shape[0], device=device)
    plain = torch.ones(3, device=device) if background is None else background.to(device)
    per_batch = config.rig.views_per_batch
    for start in range(0, len(cameras), per_batch):
        views = cameras[start:start + per_batch]
        rendered = render(views, plain)
        mask = foreground(rendered, background, config.background_tolerance)  # [B,H,W]
        uv, depth = views.project(points[None].expand(len(views), -1, -1))  # [B,N,2], [B,N]
        grid = torch.stack([2.0 * uv[..., 0] / views.width - 1.0, 2.0 * uv[..., 1] / views.height - 1.0], -1)
        sampled = F.grid_sample(mask[:, None], grid[:, None], mode="bilinear", padding_mode="zeros",
                                align_corners=False)[:, 0, 0]  # [B,N]
        sampled = torch.where(depth > 0, sampled, torch.zeros_like(sampled))
        hull = torch.minimum(hull, sampled.amin(0))
    return hull.reshape(resolution, resolution, resolution).cpu().numpy()
