"""Lambertian shading of an albedo render after the fact, with normals from its depth map.

Turntables show the form better lit than flat, but a NeRF's own ``lambertian`` mode takes
density-gradient normals at every sample (about eight times the cost of an albedo render on
a CPU). Here the albedo render's depth gives each pixel a surface point, neighbouring points
give a normal (after a small Gaussian smoothing of the depth), and the one light of
``dream3d.render.light`` shades it: the cost is a few image operations, for any representation.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dream3d.cameras import Cameras
from dream3d.render.light import AMBIENT, DIFFUSE, world_light
from dream3d.render.types import Render

SOLID = 0.5
"""Pixels at least this opaque are surface; their depth is trusted."""
SMOOTHING = 1.0 / 100.0
"""Standard deviation of the Gaussian that smooths the depth, as a fraction of the image
height: a volume render's expected depth steps with its samples along the ray."""


def smooth_depth(t: Tensor, solid: Tensor, sigma: float) -> Tensor:
    """``t [B,H,W]`` blurred by a Gaussian of ``sigma`` pixels over the ``solid`` pixels only
    (normalised convolution: the background's depth does not leak into the surface's)."""
    radius = int(3 * sigma)
    if radius < 1:
        return t
    offsets = torch.arange(-radius, radius + 1, dtype=t.dtype, device=t.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    weight = solid.to(t.dtype)[:, None]  # [B,1,H,W]
    stack = torch.cat([t[:, None] * weight, weight], 0)  # [2B,1,H,W]
    stack = F.conv2d(F.pad(stack, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    stack = F.conv2d(F.pad(stack, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    value, total = stack.chunk(2, 0)
    return torch.where(solid, value[:, 0] / total[:, 0].clamp_min(1e-6), t)


def depth_normals(depth: Tensor, alpha: Tensor, cameras: Cameras) -> Tensor:
    """World-space unit normals ``[B,H,W,3]`` facing the camera, from ``depth [B,H,W,1]``.

    Depth is read as the distance along each pixel's ray, normalised by opacity (a volume
    renderer's expected depth); a rasteriser's camera z differs from it by under 1/cos of
    half the field of view, which bends normals by a few degrees at most. Where a neighbour
    is not surface, the one-sided difference on the other side is used.
    """
    origins, directions = cameras.rays()  # [B,H,W,3]
    solid = alpha[..., 0] >= SOLID  # [B,H,W]
    t = depth[..., 0] / alpha[..., 0].clamp_min(1e-6)
    t = smooth_depth(t, solid, SMOOTHING * depth.shape[1])
    points = origins + directions * t[..., None]  # [B,H,W,3]

    def difference(axis: int) -> Tensor:  # axis 1: rows (y), 2: columns (x)
        n = points.shape[axis]
        step = points.narrow(axis, 1, n - 1) - points.narrow(axis, 0, n - 1)
        zero, no = torch.zeros_like(points.narrow(axis, 0, 1)), torch.zeros_like(solid.narrow(axis, 0, 1))
        forward, backward = torch.cat([step, zero], axis), torch.cat([zero, step], axis)
        forward_ok = torch.cat([solid.narrow(axis, 1, n - 1), no], axis)
        backward_ok = torch.cat([no, solid.narrow(axis, 0, n - 1)], axis)
        return torch.where(forward_ok[..., None] | ~backward_ok[..., None], forward, backward)

    along_x, along_y = difference(2), difference(1)
    normals = F.normalize(torch.cross(along_y, along_x, dim=-1), dim=-1)
    facing = (normals * directions).sum(-1, keepdim=True) > 0
    normals = torch.where(facing, -normals, normals)
    return torch.where(solid[..., None], normals, -directions)


def background_colour(render: Render) -> Tensor:
    """The plain background ``[B,1,1,3]`` of a render: the mean colour of its empty pixels (white if none)."""
    empty = (render.alpha < 0.01).float()  # [B,H,W,1]
    count = empty.sum(dim=(1, 2), keepdim=True)
    mean = (render.rgb * empty).sum(dim=(1, 2), keepdim=True) / count.clamp_min(1.0)
    return torch.where(count > 0, mean, torch.ones_like(mean))


def shade(render: Render, cameras: Cameras, mode: str) -> Tensor:
    """``rgb [B,H,W,3]`` of an albedo ``render`` lit as ``mode`` (``lambertian``: albedo times
    ``AMBIENT + DIFFUSE * max(0, n.l)``; ``textureless``: the same with white albedo; ``albedo``:
    unchanged), over the render's own plain background."""
    if mode == "albedo" or render.depth is None:
        return render.rgb
    cameras = cameras.to(render.rgb.device)
    alpha = render.alpha
    background = background_colour(render)
    albedo = render.rgb - (1.0 - alpha) * background  # premultiplied by alpha
    if mode == "textureless":
        albedo = alpha.expand_as(albedo)
    normals = depth_normals(render.depth, alpha, cameras)
    light = world_light(cameras.c2w)[:, None, None, :]  # [B,1,1,3]
    intensity = AMBIENT + DIFFUSE * (normals * light).sum(-1, keepdim=True).clamp_min(0.0)
    return (albedo * intensity + (1.0 - alpha) * background).clamp(0.0, 1.0)
