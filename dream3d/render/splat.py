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
4. Compositing, front to back within each tile, for all ``T^2`` pixels of the tile at
   once: ``alpha = min(0.99, o exp(-1/2 d^T Sigma'^-1 d))`` (zero below 1/255),
   ``T_i = prod_{j<i} (1 - alpha_j)``, ``C = sum_i alpha_i T_i c_i + T_final * background``.
   A tile's depth-sorted list is cut into fixed-size chunks, so the Gaussian exponents
   (a quadratic in the pixel offset) are one matrix product, the sums ``sum_i w_i c_i``
   are a batched matrix product, and only the transmittance is carried across chunks.

Autograd differentiates all of it; ``info["means2d"]`` is a non-leaf ``[C,N,2]`` tensor on
the path, so ``retain_grad()`` gives gsplat's densification signal.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from dream3d import optional
from dream3d.cameras import Cameras
from dream3d.render.types import Render
from dream3d.scene.gaussians import GaussianScene, covariances

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


def _chunk_slots(tile_id: Tensor, chunk: int) -> tuple[Tensor, Tensor, Tensor]:
    """Cut each tile's depth-sorted segment into chunks of ``chunk`` pairs.

    Returns the slot of every pair in a ``[n_chunks*chunk]`` padded layout, the camera-tile
    of every chunk ``[n_chunks]``, and the index of each chunk's tile's first chunk ``[n_chunks]``.
    """
    with torch.no_grad():
        tiles, counts = torch.unique_consecutive(tile_id, return_counts=True)
        n_chunks = (counts + chunk - 1) // chunk  # [n_tiles]
        first_chunk = torch.cumsum(n_chunks, 0) - n_chunks
        seg = torch.repeat_interleave(torch.arange(tiles.shape[0], device=tile_id.device), counts)  # [P]
        rank = torch.arange(tile_id.shape[0], device=tile_id.device) - (torch.cumsum(counts, 0) - counts)[seg]
        slot = (first_chunk[seg] + rank // chunk) * chunk + rank % chunk
        chunk_tile = torch.repeat_interleave(tiles, n_chunks)
        chunk_first = torch.repeat_interleave(first_chunk, n_chunks)
        return slot, chunk_tile, chunk_first


def rasterize(proj: Projection, colors: Tensor, background: Tensor, width: int, height: int,
              tile: int = 8, chunk: int = 32, early_stop_eps: float = 0.0) -> tuple[Tensor, Tensor, Tensor]:
    """Composite ``colors [N,D]`` front to back; returns colour ``[C,H,W,D]``, alpha ``[C,H,W,1]``, depth ``[C,H,W,1]``.

    ``background [C,D]``; depth is the expected camera z, ``sum w_i z_i / alpha`` (gsplat's ``ED``).
    Each tile's depth-sorted Gaussians are cut into chunks of ``chunk``; within a chunk the
    exponent ``-1/2 d^T Sigma'^-1 d + log o`` is a quadratic in the pixel's offset from the
    tile centre, so all of them come from one matrix product, and the colour sums are a
    batched matrix product. Transmittance is carried from chunk to chunk in float64.

    With ``early_stop_eps > 0`` and no gradient being recorded, a tile's later chunks are
    skipped once every pixel of the tile has transmittance below it (``_composite_in_waves``).
    """
    C, N = proj.depths.shape
    D = colors.shape[-1]
    dt, dev = colors.dtype, colors.device
    tw, th = math.ceil(width / tile), math.ceil(height / tile)
    acc = torch.zeros(C * th * tw, tile * tile, D + 2, dtype=dt, device=dev)  # [tiles,T*T,D+2]
    tile_id, flat, px, py = _tile_pairs(proj, width, height, tile)
    if tile_id.numel() > 0:
        slot, chunk_tile, chunk_first = _chunk_slots(tile_id, chunk)
        K = chunk_tile.shape[0]
        # index_select, not x[flat]: on a CPU the backward of advanced indexing (an accumulating
        # index_put) is several times slower than index_select's (index_add)
        mean = proj.means2d.reshape(-1, 2).index_select(0, flat)  # [P,2]
        A, B, Cc = proj.conics.reshape(-1, 3).index_select(0, flat).unbind(-1)  # [P] each
        bx = (px.to(dt) + 0.5) * tile - mean[:, 0]  # tile centre minus mean
        by = (py.to(dt) + 0.5) * tile - mean[:, 1]
        q0 = -0.5 * (A * bx * bx + Cc * by * by) - B * bx * by + torch.log(proj.opacities.reshape(-1).index_select(0, flat))
        q = torch.stack([q0, -A * bx - B * by, -Cc * by - B * bx, -0.5 * A, -0.5 * Cc, -B], -1)  # [P,6]
        q_pad = torch.zeros(K * chunk, 6, dtype=dt, device=dev)
        q_pad[:, 0] = -30.0  # empty slots: alpha ~ 0
        q_pad = q_pad.index_put((slot,), q)
        o = torch.arange(tile, dtype=dt, device=dev) + 0.5 - 0.5 * tile
        ox, oy = o.repeat(tile), o.repeat_interleave(tile)  # [T*T] row-major pixels of a tile
        basis = torch.stack([torch.ones_like(ox), ox, oy, ox * ox, oy * oy, ox * oy], 0)  # [6,T*T]
        feats = torch.cat([colors.index_select(0, flat % N), proj.depths.reshape(-1).index_select(0, flat)[:, None],
                           torch.ones_like(bx)[:, None]], -1)
        f_pad = torch.zeros(K * chunk, D + 2, dtype=dt, device=dev).index_put((slot,), feats)
        q_pad, f_pad = q_pad.reshape(K, chunk, 6), f_pad.reshape(K, chunk, D + 2)
        if early_stop_eps > 0.0 and not torch.is_grad_enabled():
            acc = _composite_in_waves(acc, q_pad, f_pad, basis, chunk_tile, chunk_first, early_stop_eps)
        else:
            partial, total = _composite_chunks(q_pad, f_pad, basis)
            before = torch.cumsum(total, 0) - total
            carry = torch.exp(before - before[chunk_first]).to(dt)  # transmittance before the chunk
            acc = acc.index_add(0, chunk_tile, partial * carry[..., None])
    # [C*th*tw, T*T, D+2] -> [C, th*tile, tw*tile, D+2]
    img = acc.reshape(C, th, tw, tile, tile, D + 2).permute(0, 1, 3, 2, 4, 5).reshape(C, th * tile, tw * tile, D + 2)
    img = img[:, :height, :width]
    alpha_img = img[..., -1:]
    rgb = img[..., :D] + (1.0 - alpha_img) * background[:, None, None, :]
    depth = img[..., D:D + 1] / alpha_img.clamp_min(1e-10)
    return rgb, alpha_img, depth


def _composite_chunks(q: Tensor, feats: Tensor, basis: Tensor) -> tuple[Tensor, Tensor]:
    """Composite chunks on their own: exponent coefficients ``q [k,chunk,6]``, features
    ``feats [k,chunk,D+2]`` -> the weighted sums ``[k,T*T,D+2]`` and each chunk's log
    transmittance ``[k,T*T]`` (float64). Differentiable in ``q`` and ``feats`` (``ChunkComposite``)."""
    return ChunkComposite.apply(q, feats, basis)


class ChunkComposite(torch.autograd.Function):
    """Front-to-back compositing of depth-sorted chunks, with the 3DGS backward written out.

    Forward, per pixel ``p`` of a chunk's tile and Gaussian ``i`` of the chunk:
    ``alpha_i = min(0.99, exp(q_i . basis_p))`` (0 below 1/255), ``T_i = prod_{j<i} (1 - alpha_j)``,
    ``w_i = alpha_i T_i``, outputs ``sum_i w_i f_i`` and ``sum_i log(1 - alpha_i)``.

    Backward, as in the 3DGS rasteriser (Kerbl et al. 2023), for output gradients ``G [P,F]`` and
    ``G_log [P]``: with ``g_i = f_i . G`` and ``S_i = sum_{j>i} w_j g_j``,
    ``dL/df_i = sum_p w_i G``, and
    ``dL/dalpha_i = T_i g_i - (S_i + G_log) / (1 - alpha_i)``, so
    ``dL/dq_i = sum_p dL/dalpha_i alpha_i basis_p`` where ``alpha_i`` is neither clamped nor cut.
    Autograd of the same forward records each elementwise step and reverses the cumulative sum
    with two flips; this backward is two batched matrix products, one cumulative sum and a few
    elementwise passes (``tests/test_splat.py`` checks it against autograd).
    """

    @staticmethod
    def forward(ctx, q: Tensor, feats: Tensor, basis: Tensor) -> tuple[Tensor, Tensor]:
        alpha = torch.exp(q @ basis).clamp_max_(ALPHA_MAX)  # [k,chunk,T*T]
        alpha.masked_fill_(alpha < ALPHA_MIN, 0.0)
        log_t = torch.log1p(-alpha)
        cum = torch.cumsum(log_t, 1)
        total = cum[:, -1].to(torch.float64, copy=True)  # before cum is reused in place
        trans = torch.exp(cum.sub_(log_t))  # T_i, transmittance in front of Gaussian i
        weights = alpha * trans
        ctx.save_for_backward(alpha, trans, weights, feats, basis)
        return torch.bmm(weights.transpose(1, 2), feats), total

    @staticmethod
    def backward(ctx, grad_sums: Tensor, grad_log: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        alpha, trans, weights, feats, basis = ctx.saved_tensors
        grad_feats = torch.bmm(weights, grad_sums) if ctx.needs_input_grad[1] else None
        grad_q = None
        if ctx.needs_input_grad[0]:
            g = torch.bmm(feats, grad_sums.transpose(1, 2))  # [k,chunk,T*T]: f_i . G
            wg = weights * g
            behind = wg.sum(1, keepdim=True) - torch.cumsum(wg, 1)  # S_i = sum_{j>i} w_j g_j
            behind.add_(grad_log.to(alpha.dtype)[:, None, :]).div_(1.0 - alpha)
            grad_power = g.mul_(trans).sub_(behind).mul_(alpha)  # dL/dalpha_i times dalpha_i/dpower
            grad_power.masked_fill_(alpha >= ALPHA_MAX, 0.0)  # clamped: no gradient (cut: alpha is 0)
            grad_q = grad_power @ basis.transpose(0, 1)  # [k,chunk,6]
        return grad_q, grad_feats, None


def _composite_in_waves(acc: Tensor, q: Tensor, feats: Tensor, basis: Tensor, chunk_tile: Tensor,
                        chunk_first: Tensor, eps: float) -> Tensor:
    """``acc`` plus every chunk's share, composited wave by wave: wave ``r`` holds the ``r``-th
    chunk of each tile that some pixel still sees through (transmittance ``>= eps``).

    A skipped chunk lies behind transmittance below ``eps`` at every pixel of its tile, so
    together the skipped chunks weigh less than ``eps``: colour, opacity and (opacity-weighted)
    depth move by at most ``eps`` times their range (``tests/test_splat.py``). gsplat's CUDA
    rasteriser stops each pixel at ``1e-4`` in the same spirit.
    """
    rank = torch.arange(chunk_tile.shape[0], device=acc.device) - chunk_first  # chunk's place in its tile
    by_rank = torch.argsort(rank, stable=True)
    sizes = torch.bincount(rank).tolist()
    log_t = torch.zeros(acc.shape[0], acc.shape[1], dtype=torch.float64, device=acc.device)  # [tiles,T*T]
    alive = torch.ones(acc.shape[0], dtype=torch.bool, device=acc.device)
    limit = float(torch.log(torch.tensor(eps, dtype=torch.float64)))
    start = 0
    for size in sizes:
        wave = by_rank[start:start + size]
        start += size
        wave = wave[alive[chunk_tile[wave]]]
        if wave.numel() == 0:
            break  # later waves only hold later chunks of tiles already done
        tiles = chunk_tile[wave]  # distinct: one chunk per tile per wave
        partial, total = _composite_chunks(q[wave], feats[wave], basis)
        acc[tiles] += partial * torch.exp(log_t[tiles]).to(acc.dtype)[..., None]
        log_t[tiles] += total
        alive[tiles] = log_t[tiles].amax(1) >= limit
    return acc


def _dense_block(u: Tensor, v: Tensor, mean: Tensor, conic: Tensor, opa: Tensor, valid: Tensor,
                 feats: Tensor) -> Tensor:
    """Depth-sorted Gaussians ``[C,N,*]`` composited at pixel centres ``u, v [M]`` -> ``[C,M,D+2]`` (last: alpha)."""
    dx = u[None, :, None] - mean[:, None, :, 0]  # [C,M,N]
    dy = v[None, :, None] - mean[:, None, :, 1]
    power = -0.5 * (conic[:, None, :, 0] * dx * dx + conic[:, None, :, 2] * dy * dy) - conic[:, None, :, 1] * dx * dy
    alpha = (opa[:, None] * torch.exp(power)).clamp_max(ALPHA_MAX)
    alpha = torch.where((alpha >= ALPHA_MIN) & (power <= 0) & valid[:, None], alpha, torch.zeros((), dtype=alpha.dtype))
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[..., :1]), 1.0 - alpha[..., :-1]], -1), -1)
    w = alpha * trans  # [C,M,N]
    return torch.cat([w @ feats, w.sum(-1, keepdim=True)], -1)


def rasterize_dense(proj: Projection, colors: Tensor, background: Tensor, width: int, height: int,
                    block: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Reference without any culling: every Gaussian at every pixel, ``[C,H,W,*]`` outputs like ``rasterize``.

    ``block`` pixels at a time (each block recomputed in the backward pass) bounds the memory.
    """
    C, N = proj.depths.shape
    D = colors.shape[-1]
    order = torch.argsort(proj.depths.detach(), dim=1)  # [C,N]
    take = lambda x: torch.gather(x, 1, order.reshape(C, N, *([1] * (x.dim() - 2))).expand_as(x))  # noqa: E731
    mean, conic, opa, z = take(proj.means2d), take(proj.conics), take(proj.opacities), take(proj.depths)
    valid = take((proj.radii > 0).all(-1))
    feats = torch.cat([colors[order], z[..., None]], -1)  # [C,N,D+1]
    grid = [torch.arange(n, dtype=colors.dtype, device=colors.device) + 0.5 for n in (height, width)]
    v, u = (x.reshape(-1) for x in torch.meshgrid(*grid, indexing="ij"))  # [H*W]
    if block is None:
        out = _dense_block(u, v, mean, conic, opa, valid, feats)
    else:
        from torch.utils.checkpoint import checkpoint

        out = torch.cat([checkpoint(_dense_block, u[i:i + block], v[i:i + block], mean, conic, opa, valid, feats,
                                    use_reentrant=False) for i in range(0, u.shape[0], block)], 1)
    a = out[..., -1:]
    rgb = out[..., :D] + (1.0 - a) * background[:, None, :]
    depth = out[..., D:D + 1] / a.clamp_min(1e-10)
    return rgb.reshape(C, height, width, D), a.reshape(C, height, width, 1), depth.reshape(C, height, width, 1)


def auto_tile_size(proj: Projection) -> int:
    """4 px tiles waste least on small splats, 8 px ones cost fewer pairs on large splats (measured on CPU)."""
    visible = (proj.radii > 0).all(-1)
    if not bool(visible.any()):
        return 8
    return 4 if float(proj.half_extent[visible].max(-1).values.median()) < 8.0 else 8


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


@dataclass
class SplatConfig:
    """Gaussian rasterisation."""

    backend: Literal["auto", "torch", "gsplat"] = "auto"
    """``auto`` (gsplat with CUDA, else torch), ``torch`` or ``gsplat``."""
    tile_size: int = 0
    """Tile width of the torch rasteriser, pixels; 0 = 4 for small splats (median radius < 8 px), else 8."""
    chunk_size: int = 32
    """Gaussians per compositing chunk of the torch rasteriser."""
    near_plane: float = 0.01
    """Gaussians closer to the camera than this are culled."""
    early_stop_eps: float = 1e-4
    """Renders without gradient (previews, silhouettes, back-projection) skip a tile's further
    Gaussians once its every pixel's transmittance is below this (torch rasteriser); 0 = off."""


def render_gaussians(scene: GaussianScene, cameras: Cameras, background: Tensor,
                     config: SplatConfig | None = None) -> Render:
    """Render ``scene`` from ``cameras`` over ``background [B,3]`` or ``[3]``.

    Returns ``Render(rgb [B,H,W,3] in [0,1], alpha [B,H,W,1], depth [B,H,W,1])`` with the
    densification info (``means2d``, ``radii``, ``width``, ``height``, ``n_cameras``,
    ``gaussian_ids``, ``packed``) in ``extras["info"]``.
    """
    config = config or SplatConfig()
    H, W, B = cameras.height, cameras.width, len(cameras)
    dtype = scene.means.dtype
    viewmats = cameras.w2c().to(scene.means.device, dtype)  # [B,4,4]
    Ks = cameras.intrinsics().to(scene.means.device, dtype)  # [B,3,3]
    bg = background.to(scene.means.device, dtype).expand(B, 3)  # [B,3]
    info: dict[str, Any]
    if splat_backend(config.backend) == "gsplat":
        rasterization = optional.gsplat_rasterization()
        out, alpha, info = rasterization(
            scene.means, scene.quats, scene.scales, scene.opacities, scene.colors, viewmats, Ks, W, H,
            near_plane=config.near_plane, packed=False, tile_size=16, backgrounds=bg, render_mode="RGB+ED")
        rgb, depth = out[..., :3], out[..., 3:4]
        info["packed"] = False
    else:
        proj = project(scene.means, covariances(scene.params["quats"], scene.params["scales"]), scene.opacities,
                       viewmats, Ks, W, H, config.near_plane)
        tile = config.tile_size if config.tile_size > 0 else auto_tile_size(proj)
        rgb, alpha, depth = rasterize(proj, scene.colors, bg, W, H, tile, config.chunk_size, config.early_stop_eps)
        info = {"means2d": proj.means2d, "radii": proj.radii, "depths": proj.depths, "conics": proj.conics,
                "width": W, "height": H, "n_cameras": B, "gaussian_ids": None, "packed": False}
    return Render(rgb=rgb.clamp(0.0, 1.0), alpha=alpha, depth=depth, extras={"info": info})
