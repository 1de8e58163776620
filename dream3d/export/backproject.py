"""Texture by back-projection of rendered views, as DreamGaussian's mesh stage does (Tang et al. 2023).

The scene is rendered (colour, opacity, depth) from a fixed rig of cameras: a ring of
azimuths at each of a few elevations, plus straight above and below. Every texel's
surface point (``TexelMap``) is projected into every view; a view counts for a texel only
if the point is visible there (its camera depth agrees with the rendered depth within a
tolerance, and the pixel is opaque) and the surface faces the camera (cosine between the
normal and the direction to the camera above a threshold). Kept views are blended with
cosine weights; texels no view saw, and the space between charts, are filled from their
neighbours (``fill_seams``: dilation, then push-pull).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from dream3d.cameras import Cameras
from dream3d.export.bake import fill_seams
from dream3d.export.texels import TexelMap
from dream3d.render.splat import render_gaussians
from dream3d.render.types import Render

log = logging.getLogger(__name__)
Renderer = Callable[[object, Cameras, Tensor], Render]


@dataclass
class BackprojectConfig:
    """Views and visibility tests of the back-projection."""

    azimuths: int = 8
    """Views per elevation ring, evenly spaced in azimuth."""
    elevations: tuple[float, ...] = (-20.0, 15.0, 50.0)
    """Elevations of the rings, degrees."""
    poles: bool = True
    """Also look straight down and straight up."""
    distance: float = 2.5
    """Camera distance from the origin."""
    fovy: float = 40.0
    """Vertical field of view, degrees."""
    resolution: int = 256
    """Width and height of each rendered view, pixels."""
    views_per_batch: int = 4
    """Views rendered at once."""
    depth_tolerance: float = 0.05
    """A texel is visible when its camera depth is within this (world units) of the rendered depth."""
    min_alpha: float = 0.5
    """Pixels less opaque than this are background."""
    min_cosine: float = 0.2
    """Views seeing the surface more obliquely than this cosine are ignored."""
    cosine_power: float = 1.0
    """Blend weight of a view: cosine to this power."""
    dilation: int = 4
    """Texels of seam padding before the push-pull fill."""


def backprojection_cameras(config: BackprojectConfig) -> Cameras:
    """The rig: ``azimuths`` views at each elevation, then the top and bottom views."""
    ring = torch.arange(config.azimuths, dtype=torch.float32) * (360.0 / config.azimuths) - 180.0
    elevation = [torch.full_like(ring, e) for e in config.elevations]
    azimuth = [ring] * len(config.elevations)
    if config.poles:
        elevation.append(torch.tensor([90.0, -90.0]))
        azimuth.append(torch.zeros(2))
    elevation_t, azimuth_t = torch.cat(elevation), torch.cat(azimuth)
    distance = torch.full_like(elevation_t, config.distance)
    return Cameras.from_spherical(elevation_t, azimuth_t, distance, config.fovy, config.resolution, config.resolution)


def sample_at_pixels(images: Tensor, uv: Tensor) -> Tensor:
    """``images [B,C,H,W]`` read bilinearly at pixel positions ``uv [B,K,2]`` (x right, y down,
    pixel centres at +0.5) -> ``[B,C,K]``; zero outside the image."""
    height, width = images.shape[-2:]
    grid = torch.stack([2.0 * uv[..., 0] / width - 1.0, 2.0 * uv[..., 1] / height - 1.0], -1)[:, None]  # [B,1,K,2]
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[:, :, 0]


def _index(cameras: Cameras, idx: slice) -> Cameras:
    return Cameras(cameras.c2w[idx], cameras.fovy[idx], cameras.elevation[idx], cameras.azimuth[idx],
                   cameras.distance[idx], cameras.height, cameras.width)


@torch.no_grad()
def backproject_colours(scene: object, points: Tensor, normals: Tensor, config: BackprojectConfig | None = None,
                        render: Renderer = render_gaussians) -> tuple[Tensor, Tensor]:
    """Blended colours ``[K,3]`` and total weights ``[K]`` (0: no view kept) at surface ``points``/``normals [K,3]``."""
    config = config or BackprojectConfig()
    cameras = backprojection_cameras(config)
    colour_sum = points.new_zeros(points.shape[0], 3)
    weight_sum = points.new_zeros(points.shape[0])
    black = torch.zeros(3)
    for start in range(0, len(cameras), config.views_per_batch):
        cams = _index(cameras, slice(start, start + config.views_per_batch))
        views = render(scene, cams, black)
        B, H, W = len(cams), cams.height, cams.width
        uv, z = cams.project(points[None].expand(B, -1, -1))  # [B,K,2], [B,K]
        # premultiplied colour and opacity, bilinear; depth and opacity at the nearest pixel
        image = torch.cat([views.rgb, views.alpha], -1).permute(0, 3, 1, 2).float()  # [B,4,H,W]
        sampled = sample_at_pixels(image, uv)  # [B,4,K]
        col, row = uv[..., 0].floor().long(), uv[..., 1].floor().long()
        on_image = (col >= 0) & (col < W) & (row >= 0) & (row < H) & (z > 0)
        flat = (row.clamp(0, H - 1) * W + col.clamp(0, W - 1))  # [B,K]
        depth_px = torch.gather(views.depth.reshape(B, -1).float(), 1, flat)
        alpha_px = torch.gather(views.alpha.reshape(B, -1).float(), 1, flat)
        visible = on_image & (alpha_px > config.min_alpha) & ((z - depth_px).abs() < config.depth_tolerance)
        to_camera = F.normalize(cams.positions()[:, None, :] - points[None], dim=-1)  # [B,K,3]
        cosine = (to_camera * normals[None]).sum(-1)
        keep = visible & (cosine > config.min_cosine) & (sampled[:, 3] > 1e-3)
        weight = torch.where(keep, cosine.clamp_min(0).pow(config.cosine_power), torch.zeros(()))  # [B,K]
        colour = sampled[:, :3] / sampled[:, 3:4].clamp_min(1e-3)  # [B,3,K] un-premultiplied
        colour_sum += (weight[:, None] * colour).sum(0).T
        weight_sum += weight.sum(0)
    colours = colour_sum / weight_sum.clamp_min(1e-8)[:, None]
    return colours.clamp(0.0, 1.0), weight_sum


def backproject_texture(scene: object, texels: TexelMap, config: BackprojectConfig | None = None,
                        render: Renderer = render_gaussians) -> tuple[Tensor, Tensor]:
    """Texture ``[S,S,3]`` in [0,1] from rendered views, and the mask ``[S,S]`` of texels some view saw.

    ``render(scene, cameras, background)`` defaults to the Gaussian splatter; any renderer
    returning a ``Render`` with depth works.
    """
    config = config or BackprojectConfig()
    size = texels.mask.shape[0]
    points, normals = texels.points[texels.mask], texels.normals[texels.mask]  # [K,3]
    colours, weights = backproject_colours(scene, points, normals, config, render)
    seen = weights > 0
    texture = torch.zeros(size, size, 3)
    covered = torch.zeros(size, size, dtype=torch.bool)
    texture[texels.mask] = torch.where(seen[:, None], colours, torch.zeros(()))
    covered[texels.mask] = seen
    log.info("back-projection: %d of %d surface texels seen from %d views", int(seen.sum()), points.shape[0],
             len(backprojection_cameras(config)))
    return fill_seams(texture, covered, config.dilation), covered
