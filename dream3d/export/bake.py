"""Texture baking: query the scene's albedo at every texel's surface point, then pad seams."""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import Tensor

from dream3d.export.grid import ExportableScene, query_chunked
from dream3d.export.texels import TexelMap

log = logging.getLogger(__name__)


def dilate(texture: Tensor, mask: Tensor, iterations: int) -> tuple[Tensor, Tensor]:
    """Grow ``texture [S,S,C]`` beyond ``mask [S,S]`` by ``iterations`` texels.

    Each step gives every empty texel that touches filled ones (8-neighbourhood) the
    mean of those neighbours. Returns the texture and the grown mask.
    """
    img = texture.permute(2, 0, 1)[None]  # [1,C,S,S]
    m = mask.to(img.dtype)[None, None]  # [1,1,S,S]
    kernel = torch.ones(1, 1, 3, 3, dtype=img.dtype, device=img.device)
    channels = img.shape[1]
    for _ in range(iterations):
        weight = F.conv2d(m, kernel, padding=1)
        summed = F.conv2d(img * m, kernel.expand(channels, 1, 3, 3), padding=1, groups=channels)
        grow = (weight > 0) & (m == 0)
        if not grow.any():
            break
        img = torch.where(grow, summed / weight.clamp_min(1e-8), img)
        m = torch.where(grow, torch.ones_like(m), m)
    return img[0].permute(1, 2, 0), m[0, 0] > 0


def push_pull(texture: Tensor, mask: Tensor) -> Tensor:
    """Fill every texel outside ``mask [S,S]`` of ``texture [S,S,C]`` smoothly.

    Pull: average the filled texels down a mip pyramid. Push: fill each level's holes
    with the bilinear upsampling of the coarser, filled level. So every mip level of the
    result only averages chart colours, never an arbitrary background.
    (Pull-push: Gortler et al., "The Lumigraph", SIGGRAPH 1996.)
    """
    img = texture.permute(2, 0, 1)[None]
    m = mask.to(img.dtype)[None, None]
    return _push_pull(img, m)[0].permute(1, 2, 0)


def _push_pull(img: Tensor, m: Tensor) -> Tensor:
    """Recursive step of :func:`push_pull` on ``img [1,C,H,W]`` and ``m [1,1,H,W]``."""
    h, w = img.shape[-2:]
    if bool((m > 0).all()):
        return img
    if (h <= 1 and w <= 1) or not bool((m > 0).any()):
        total = m.sum()
        mean = (img * m).sum(dim=(-2, -1), keepdim=True) / total.clamp_min(1e-8)
        return torch.where(m > 0, img, mean.expand_as(img))
    colour = F.avg_pool2d(img * m, 2, ceil_mode=True)
    weight = F.avg_pool2d(m, 2, ceil_mode=True)
    coarse = _push_pull(colour / weight.clamp_min(1e-8), (weight > 0).to(m.dtype))
    up = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    return torch.where(m > 0, img, up)


def fill_seams(texture: Tensor, mask: Tensor, dilation: int = 4) -> Tensor:
    """Pad charts by ``dilation`` texels, then fill the rest of the atlas by push-pull.

    ``texture [S,S,C]`` holds valid colours where ``mask [S,S]``; returns ``[S,S,C]``.
    Reusable for any colours written into a :class:`TexelMap` (e.g. back-projection).
    """
    grown, grown_mask = dilate(texture, mask, dilation)
    return push_pull(grown, grown_mask)


@torch.no_grad()
def bake_albedo(
    scene: ExportableScene,
    texels: TexelMap,
    chunk_size: int = 262144,
    dilation: int = 4,
    device: torch.device | None = None,
) -> Tensor:
    """Texture ``[S,S,3]`` in [0,1]: ``scene.albedo`` at each valid texel, seams padded."""
    device = torch.device("cpu") if device is None else device
    size = texels.mask.shape[0]
    points = texels.points[texels.mask].to(device)  # [K,3]
    colours = query_chunked(scene.albedo, points, chunk_size).float().clamp(0.0, 1.0).cpu()  # [K,3]
    texture = torch.zeros(size, size, 3)
    texture[texels.mask] = colours
    log.info("baked %d texels (%.0f%% of the atlas)", points.shape[0], 100.0 * points.shape[0] / size**2)
    return fill_seams(texture, texels.mask, dilation)
