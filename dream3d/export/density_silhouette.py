"""Silhouettes read from a density grid: the opacity a volume renderer would show, without the field.

A NeRF's silhouette rig (``dream3d.export.silhouette``: 26 views at 96 px, 240k rays) rendered
through the field, 32 samples a ray and the MLP at each, took 15-27 s on 2 CPU cores. The export
has already sampled the same density on its grid, so each ray's opacity is integrated from
that grid instead, with the emission-absorption quadrature of volume rendering (Max, "Optical
models for direct volume rendering", TVCG 1995; NeRF, Mildenhall et al. 2020, eq. 3):

    alpha = 1 - exp(-sum_i sigma(x_i) delta),

at points ``x_i`` one grid spacing ``delta`` apart along the ray, with sigma trilinear between the
grid's nodes and zero outside it.
"""
from __future__ import annotations

import logging
import math
import time

import torch
import torch.nn.functional as F
from torch import Tensor

from dream3d.export.backproject import backprojection_cameras
from dream3d.export.grid import DensityGrid
from dream3d.export.silhouette import SilhouetteConfig, SilhouetteViews, fill_pinholes
from dream3d.render.volume import ray_sphere_interval

log = logging.getLogger(__name__)


def ray_opacity(values: Tensor, radius: float, origins: Tensor, directions: Tensor) -> Tensor:
    """Opacity ``[N]`` of unit rays ``origins, directions [N,3]`` through the density ``values [R,R,R]``
    (``values[i, j, k]`` at node ``(x_i, y_j, z_k)`` of ``[-radius, radius]^3``)."""
    resolution = values.shape[0]
    step = 2.0 * radius / (resolution - 1)
    reach = radius * math.sqrt(3.0)  # the sphere around the grid's cube
    near, far, hit = ray_sphere_interval(origins, directions, reach)
    count = math.ceil(2.0 * reach / step)
    t = near[:, None] + (torch.arange(count, device=origins.device, dtype=origins.dtype) + 0.5)[None] * step  # [N,S]
    points = origins[:, None, :] + directions[:, None, :] * t[..., None]  # [N,S,3]
    # grid_sample reads (x, y, z) as (W, H, D): the grid's k, j, i.
    coords = (points / radius).flip(-1)[None, None]  # [1,1,N,S,3]
    sigma = F.grid_sample(values[None, None], coords, mode="bilinear", padding_mode="zeros", align_corners=True)
    sigma = sigma[0, 0, 0] * ((t < far[:, None]) & hit[:, None])  # [N,S]
    return 1.0 - torch.exp(-sigma.sum(-1) * step)


@torch.no_grad()
def density_silhouettes(grid: DensityGrid, config: SilhouetteConfig,
                        device: torch.device | None = None) -> SilhouetteViews:
    """The rig's views of ``grid`` as opacity masks (soft foreground), small holes filled as for rendered ones."""
    start = time.perf_counter()
    device = device or torch.device("cpu")
    cameras = backprojection_cameras(config.rig).to(device)
    values = torch.from_numpy(grid.values).float().to(device)
    masks = []
    for view in range(len(cameras)):
        origins, directions = cameras[view:view + 1].rays()  # [1,H,W,3]
        alpha = ray_opacity(values, grid.radius, origins.reshape(-1, 3), directions.reshape(-1, 3))
        masks.append(alpha.view(origins.shape[1:3]))
    filled = fill_pinholes(torch.stack(masks), config.min_alpha, config.max_hole_fraction)  # [V,H,W]
    log.info("silhouettes: %d views at %d px from the %d^3 density grid in %.1f s", len(cameras),
             config.rig.resolution, grid.resolution, time.perf_counter() - start)
    return SilhouetteViews(filled[:, None], cameras)
