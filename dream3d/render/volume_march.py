"""Volume rendering that stops marching a ray once it is opaque (evaluation renders only).

Compositing (Max 1995; Mildenhall et al. 2020) gives sample ``i`` the weight
``w_i = T_i (1 - exp(-sigma_i delta_i))`` with ``T_i = exp(-sum_{j<i} sigma_j delta_j)``.
Once ``T`` falls below ``eps``, every later sample of that ray together weighs less than
``eps``, so its field queries can be skipped: nerfacc's ``early_stop_eps`` on CUDA. Here the
samples are walked in chunks along the rays: each chunk queries the field only for rays still
transparent (``T > eps``) and cells the occupancy grid marks occupied, and carries each ray's
``T`` into the next chunk. Colour, opacity and depth differ from compositing every sample by
at most ``eps`` times their range (``tests/test_volume.py``). Inside an opaque object most
occupied samples lie behind its front surface, so a turntable frame queries a fraction of
them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from nerfacc import render_weight_from_density
from torch import Tensor

from dream3d.render.occupancy import OccupancyGrid
from dream3d.scene.nerf import NeRFField


@dataclass
class MarchResult:
    """Per ray: composited albedo ``[R,3]`` (no background), opacity ``[R,1]``, depth ``[R,1]``,
    and how many samples were queried."""

    rgb: Tensor
    opacity: Tensor
    depth: Tensor
    samples_queried: int


@torch.no_grad()
def march_albedo(field_: NeRFField, occupancy: OccupancyGrid, rays_o: Tensor, rays_d: Tensor, t_starts: Tensor,
                 t_ends: Tensor, hit: Tensor, eps: float, chunk: int) -> MarchResult:
    """Composite the field's albedo over samples ``t_starts, t_ends [R,S]``, ``chunk`` samples at
    a time, dropping rays whose transmittance is below ``eps``."""
    rays, samples = t_starts.shape
    rgb = rays_o.new_zeros(rays, 3)
    opacity = rays_o.new_zeros(rays)
    depth = rays_o.new_zeros(rays)
    transmittance = rays_o.new_ones(rays)
    alive = hit.clone()
    queried = 0
    for start in range(0, samples, chunk):
        index = alive.nonzero()[:, 0]
        if index.numel() == 0:
            break
        starts, ends = t_starts[index, start:start + chunk], t_ends[index, start:start + chunk]  # [A,C]
        mid = 0.5 * (starts + ends)
        points = rays_o[index, None, :] + rays_d[index, None, :] * mid[..., None]  # [A,C,3]
        keep = occupancy.occupied(points)
        if not bool(keep.any()):
            continue  # all empty: nothing to add, the transmittance stays
        sigma_kept, albedo_kept = field_(points[keep])
        queried += int(sigma_kept.shape[0])
        sigmas = torch.zeros_like(mid).masked_scatter(keep, sigma_kept)
        albedo = torch.zeros(*mid.shape, 3, dtype=mid.dtype, device=mid.device).masked_scatter(keep[..., None], albedo_kept)
        weights = render_weight_from_density(starts, ends, sigmas)[0] * transmittance[index, None]  # [A,C]
        rgb[index] += (weights[..., None] * albedo).sum(1)
        opacity[index] += weights.sum(1)
        depth[index] += (weights * mid).sum(1)
        transmittance[index] *= torch.exp(-(sigmas * (ends - starts)).sum(1))
        alive[index] = transmittance[index] > eps
    return MarchResult(rgb, opacity[:, None], depth[:, None], queried)
