"""Rasterising 3D Gaussians (Kerbl et al. 2023) with EWA splatting (Zwicker et al. 2001).

With CUDA, ``gsplat.rasterization`` (public API) does the work. Otherwise a tile-based
pure-torch rasteriser produces the same outputs and gradients:

1. Projection: camera-space centre ``t = W mu + b``, image-plane Jacobian ``J`` of the
   pinhole projection at ``t`` (its ``x/z``, ``y/z`` clamped to 1.3x the field of view as
   in 3DGS), 2D covariance ``Sigma' = J W Sigma W^T J^T + 0.3 I`` (the 0.3 px^2 blur of 3DGS).
2. Culling: behind the near plane, or with a screen box
   ``mean +- k sqrt(diag Sigma')`` outside the image, where ``k = min(3.33, sqrt(2 ln(255 o)))``
   is the radius beyond which ``o exp(-r^2/2) < 1/255`` (gsplat's opacity-aware 3-sigma bound).
   Inside that box lies every pixel the Gaussian can touch, so culling is exact.
3. Binning: each Gaussian is paired with the ``T x T`` tiles its box overlaps; the pairs
   are sorted by (camera, tile, depth), giving one depth-ordered segment per tile.
4. Compositing, front to back within each segment, for all ``T^2`` pixels of the tile at
   once: ``alpha = min(0.99, o exp(-1/2 d^T Sigma'^-1 d))`` (zero below 1/255),
   ``T_i = prod_{j<i} (1 - alpha_j)`` as a segmented exclusive cumulative sum of
   ``log(1 - alpha)`` (in float64), ``C = sum_i alpha_i T_i c_i + T_final * background``.

Autograd differentiates all of it; ``info["means2d"]`` is a non-leaf ``[C,N,2]`` tensor on
the path, so ``retain_grad()`` gives gsplat's densification signal.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from dream3d import optional
from dream3d.cameras import Cameras
from dream3d.render.types import Render
from dream3d.scene.gaussians import GaussianScene, covariances

log = logging.getLogger(__name__)
ALPHA_MIN = 1.0 / 255.0
ALPHA_MAX = 0.99
EXTENT_MAX = 3.33  # sqrt(2 ln 255): the 1/255 cut-off of a fully opaque Gaussian


@dataclass
class Projection:
    """Gaussians projected into ``C`` cameras (entries with ``radii == 0`` are culled)."""

    means2d: Tensor  # [C,N,2] pixels
    conics: Tensor  # [C,N,3] upper triangle (a, b, c) of the inverse 2D covariance
    depths: Tensor  # [C,N] camera z
    opacities: Tensor  # [C,N]
    half_extent: Tensor  # [C,N,2] screen box half-size in pixels (float)
    radii: Tensor  # [C,N,2] int32, ceil(half_extent), 0 when culled


def project(means: Tensor, covars: Tensor, opacities: Tensor, viewmats: Tensor, Ks: Tensor,
            width: int, height: int, near_plane: float = 0.01, eps2d: float = 0.3) -> Projection:
    """EWA projection (Zwicker et al. 2001) of ``means [N,3]``, ``covars [N,3,3]`` into ``C`` cameras."""
    R, tr = viewmats[:, None, :3, :3], viewmats[:, None, :3, 3]  # [C,1,3,3], [C,1,3]
    t = (R @ means[None, :, :, None])[..., 0] + tr  # [C,N,3]
    z = t[..., 2]
    zs = z.clamp_min(near_plane)
    fx, fy = Ks[:, None, 0, 0], Ks[:, None, 1, 1]  # [C,1]
    cx, cy = Ks[:, None, 0, 2], Ks[:, None, 1, 2]
    lim_x, lim_y = 1.3 * 0.5 * width / fx, 1.3 * 0.5 * height / fy
    tx = zs * (t[..., 0] / zs).clamp(-lim_x, lim_x)
    ty = zs * (t[..., 1] / zs).clamp(-lim_y, lim_y)
    zero = torch.zeros_like(zs)
    J = torch.stack([fx / zs, zero, -fx * tx / zs**2, zero, fy / zs, -fy * ty / zs**2], -1).reshape(*zs.shape, 2, 3)
    M = J @ R  # [C,N,2,3]
    cov2d = M @ covars[None] @ M.transpose(-1, -2)  # [C,N,2,2]
    a, b, c = cov2d[..., 0, 0] + eps2d, cov2d[..., 0, 1], cov2d[..., 1, 1] + eps2d
    det = (a * c - b * b).clamp_min(1e-12)
    conics = torch.stack([c / det, -b / det, a / det], -1)
    means2d = torch.stack([fx * t[..., 0] / zs + cx, fy * t[..., 1] / zs + cy], -1)  # [C,N,2]
    opa = opacities[None].expand_as(z)
    with torch.no_grad():
        k = torch.sqrt(2.0 * torch.log((opa / ALPHA_MIN).clamp_min(1.0))).clamp_max(EXTENT_MAX)
        half = k[..., None] * torch.stack([a, c], -1).sqrt()  # [C,N,2]
        lo, hi = means2d - half, means2d + half
        on_screen = (hi[..., 0] >= 0) & (lo[..., 0] <= width) & (hi[..., 1] >= 0) & (lo[..., 1] <= height)
        valid = (z > near_plane) & (opa >= ALPHA_MIN) & on_screen & (k > 0)
        half = torch.where(valid[..., None], half, torch.zeros_like(half))
        radii = torch.ceil(half).to(torch.int32)
    return Projection(means2d, conics, z, opa, half, radii)


def _tile_pairs(proj: Projection, width: int, height: int, tile: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(camera-tile id, flat Gaussian index ``c*N+g``, tile x, tile y) per pair ``[P]``, sorted by tile then depth."""
    C, N = proj.depths.shape
    tw, th = math.ceil(width / tile), math.ceil(height / tile)
    with torch.no_grad():
        cam, gid = torch.nonzero((proj.radii > 0).all(-1), as_tuple=True)
        m, h = proj.means2d.detach()[cam, gid], proj.half_extent[cam, gid]  # [V,2]
        last = torch.tensor([tw - 1, th - 1], device=m.device)
        t0 = torch.floor((m - h) / tile).long().clamp_min(0).minimum(last)  # [V,2] first tile (x, y)
        t1 = torch.floor((m + h) / tile).long().clamp_min(0).minimum(last)  # [V,2] last tile
        n = t1 - t0 + 1  # [V,2]
        count = n[:, 0] * n[:, 1]
        src = torch.repeat_interleave(torch.arange(cam.shape[0], device=cam.device), count)  # [P]
        local = torch.arange(src.shape[0], device=cam.device) - (torch.cumsum(count, 0) - count)[src]
        px = t0[src, 0] + local % n[src, 0]
        py = t0[src, 1] + local // n[src, 0]
        tile_id = (cam[src] * th + py) * tw + px
        rank = torch.empty_like(proj.depths, dtype=torch.long)  # depth rank within each camera
        rank.scatter_(1, torch.argsort(proj.depths.detach(), dim=1), torch.arange(N, device=cam.device).expand(C, N))
        order = torch.argsort(tile_id * N + rank[cam[src], gid[src]])
        src, tile_id = src[order], tile_id[order]
        return tile_id, cam[src] * N + gid[src], px[order], py[order]


def rasterize(proj: Projection, colors: Tensor, background: Tensor, width: int, height: int,
              tile: int = 8) -> tuple[Tensor, Tensor, Tensor]:
    """Composite ``colors [N,D]`` front to back; returns colour ``[C,H,W,D]``, alpha ``[C,H,W,1]``, depth ``[C,H,W,1]``.

    ``background [C,D]``; depth is the expected camera z, ``sum w_i z_i / alpha`` (gsplat's ``ED``).
    """
    C, N = proj.depths.shape
    D = colors.shape[-1]
    tw, th = math.ceil(width / tile), math.ceil(height / tile)
    tile_id, flat, px, py = _tile_pairs(proj, width, height, tile)
    feats = torch.cat([colors[None].expand(C, N, D), proj.depths[..., None]], -1).reshape(C * N, D + 1)
    acc = torch.zeros(tile * tile, C * th * tw, D + 2, dtype=colors.dtype, device=colors.device)
    if tile_id.numel() > 0:
        mean = proj.means2d.reshape(-1, 2)[flat]  # [P,2]
        conic = proj.conics.reshape(-1, 3)[flat]  # [P,3]
        opa = proj.opacities.reshape(-1)[flat]  # [P]
        offs = torch.arange(tile, dtype=colors.dtype, device=colors.device) + 0.5
        dx = (px * tile - mean[:, 0])[None, :] + offs.repeat(tile)[:, None]  # [T*T,P]
        dy = (py * tile - mean[:, 1])[None, :] + offs.repeat_interleave(tile)[:, None]
        power = -0.5 * (conic[:, 0] * dx * dx + conic[:, 2] * dy * dy) - conic[:, 1] * dx * dy
        alpha = (opa * torch.exp(power)).clamp_max(ALPHA_MAX)
        alpha = torch.where((alpha >= ALPHA_MIN) & (power <= 0), alpha, torch.zeros((), dtype=alpha.dtype))
        log_t = torch.log1p(-alpha.double())
        excl = torch.cumsum(log_t, 1) - log_t  # [T*T,P] exclusive over all segments
        pos = torch.arange(tile_id.shape[0], device=tile_id.device)
        is_first = torch.ones_like(tile_id, dtype=torch.bool)
        is_first[1:] = tile_id[1:] != tile_id[:-1]
        seg_start = torch.cummax(torch.where(is_first, pos, torch.zeros_like(pos)), 0).values
        trans = torch.exp(excl - excl[:, seg_start]).to(alpha.dtype)
        w = alpha * trans  # [T*T,P]
        src = torch.cat([w[..., None] * feats[flat][None], w[..., None]], -1)  # [T*T,P,D+2]
        acc = acc.index_add(1, tile_id, src)
    # [T*T, C*th*tw, D+2] -> [C, th*tile, tw*tile, D+2]
    img = acc.reshape(tile, tile, C, th, tw, D + 2).permute(2, 3, 0, 4, 1, 5).reshape(C, th * tile, tw * tile, D + 2)
    img = img[:, :height, :width]
    alpha_img = img[..., -1:]
    rgb = img[..., :D] + (1.0 - alpha_img) * background[:, None, None, :]
    depth = img[..., D:D + 1] / alpha_img.clamp_min(1e-10)
    return rgb, alpha_img, depth


def rasterize_dense(proj: Projection, colors: Tensor, background: Tensor, width: int, height: int) -> tuple[Tensor, Tensor, Tensor]:
    """Reference without any culling: every Gaussian at every pixel, ``[C,H,W,*]`` outputs like ``rasterize``."""
    C, N = proj.depths.shape
    order = torch.argsort(proj.depths.detach(), dim=1)  # [C,N]
    take = lambda x: torch.gather(x, 1, order.reshape(C, N, *([1] * (x.dim() - 2))).expand_as(x))  # noqa: E731
    mean, conic, opa, z = take(proj.means2d), take(proj.conics), take(proj.opacities), take(proj.depths)
    valid = take((proj.radii > 0).all(-1))
    feats = torch.cat([colors[order], z[..., None]], -1)  # [C,N,D+1]
    grid = [torch.arange(n, dtype=colors.dtype, device=colors.device) + 0.5 for n in (height, width)]
    v, u = torch.meshgrid(*grid, indexing="ij")  # [H,W]
    dx = u.reshape(1, -1, 1) - mean[:, None, :, 0]  # [C,HW,N]
    dy = v.reshape(1, -1, 1) - mean[:, None, :, 1]
    power = -0.5 * (conic[:, None, :, 0] * dx * dx + conic[:, None, :, 2] * dy * dy) - conic[:, None, :, 1] * dx * dy
    alpha = (opa[:, None] * torch.exp(power)).clamp_max(ALPHA_MAX)
    alpha = torch.where((alpha >= ALPHA_MIN) & (power <= 0) & valid[:, None], alpha, torch.zeros((), dtype=alpha.dtype))
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[..., :1]), 1.0 - alpha[..., :-1]], -1), -1)
    w = alpha * trans  # [C,HW,N]
    out = w @ feats  # [C,HW,D+1]
    a = w.sum(-1, keepdim=True)
    D = colors.shape[-1]
    rgb = out[..., :D] + (1.0 - a) * background[:, None, :]
    depth = out[..., D:] / a.clamp_min(1e-10)
    shape = (C, height, width)
    return rgb.reshape(*shape, D), a.reshape(*shape, 1), depth.reshape(*shape, 1)


def splat_backend(backend: str = "auto") -> str:
    """``gsplat`` when CUDA (and gsplat) are there and allowed, else ``torch``; logged once."""
    if backend not in ("auto", "torch", "gsplat"):
        raise ValueError(f"splat backend must be 'auto', 'torch' or 'gsplat', got {backend!r}")
    if backend == "torch":
        chosen = "torch"
    elif backend == "gsplat":
        optional.require(optional.gsplat_rasterization(), "splat backend 'gsplat'", "gsplat")
        chosen = "gsplat"
    else:
        chosen = "gsplat" if optional.gsplat_rasterization() is not None else "torch"
    optional.announce_backend("gaussian splatting", chosen)
    return chosen


def render_gaussians(scene: GaussianScene, cameras: Cameras, background: Tensor, backend: str = "auto",
                     tile_size: int = 8, near_plane: float = 0.01) -> Render:
    """Render ``scene`` from ``cameras`` over ``background [B,3]`` or ``[3]``.

    Returns ``Render(rgb [B,H,W,3] in [0,1], alpha [B,H,W,1], depth [B,H,W,1])`` with the
    densification info (``means2d``, ``radii``, ``width``, ``height``, ``n_cameras``,
    ``gaussian_ids``) in ``extras["info"]``.
    """
    H, W, B = cameras.height, cameras.width, len(cameras)
    dtype = scene.means.dtype
    viewmats = cameras.w2c().to(scene.means.device, dtype)  # [B,4,4]
    Ks = cameras.intrinsics().to(scene.means.device, dtype)  # [B,3,3]
    bg = background.to(scene.means.device, dtype).expand(B, 3) if background.dim() == 1 else background.to(scene.means.device, dtype)
    if splat_backend(backend) == "gsplat":
        rasterization = optional.gsplat_rasterization()
        out, alpha, info = rasterization(
            scene.means, scene.quats, scene.scales, scene.opacities, scene.colors, viewmats, Ks, W, H,
            near_plane=near_plane, packed=False, tile_size=16, backgrounds=bg, render_mode="RGB+ED")
        rgb, depth = out[..., :3], out[..., 3:4]
        info["packed"] = False
    else:
        proj = project(scene.means, covariances(scene.params["quats"], scene.params["scales"]), scene.opacities,
                       viewmats, Ks, W, H, near_plane)
        rgb, alpha, depth = rasterize(proj, scene.colors, bg, W, H, tile_size)
        info: dict[str, Any] = {"means2d": proj.means2d, "radii": proj.radii, "depths": proj.depths,
                                "conics": proj.conics, "width": W, "height": H, "n_cameras": B,
                                "gaussian_ids": None, "packed": False}
    return Render(rgb=rgb.clamp(0.0, 1.0), alpha=alpha, depth=depth, extras={"info": info})
