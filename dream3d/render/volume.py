"""Volume rendering of a NeRF field (Mildenhall et al. 2020), composited with nerfacc.

On CPU: stratified samples between the ray's entry and exit of the scene's bounding
sphere; an occupancy grid (kept up to date during training) masks out empty samples
before the field is queried. Compositing uses nerfacc's ``render_weight_from_density`` and
``accumulate_along_rays`` in their dense ``[rays, samples]`` form, which runs on CPU:
``w_i = T_i (1 - exp(-sigma_i delta_i))``, ``T_i = exp(-sum_{j<i} sigma_j delta_j)``.
On CUDA, ``nerfacc.OccGridEstimator`` does the sampling (see ``volume_nerfacc.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from nerfacc import accumulate_along_rays, render_weight_from_density
from torch import Tensor, nn

from dream3d.cameras import Cameras
from dream3d.render.occupancy import OccupancyGrid, OccupancyGridConfig
from dream3d.render.shading import ShadingConfig, light_directions, shade
from dream3d.render.types import Render
from dream3d.scene.background import Background
from dream3d.scene.nerf import NeRFField


@dataclass
class VolumeRendererConfig:
    """Ray sampling and compositing."""

    n_samples: int = 64
    """Stratified samples per ray inside the bounding sphere."""
    stratified: bool = True
    """Jitter the samples within their bins while training."""
    backend: Literal["auto", "torch", "nerfacc"] = "auto"
    """``auto`` (nerfacc's OccGridEstimator on CUDA, else torch), ``torch`` or ``nerfacc``."""
    occupancy: OccupancyGridConfig = field(default_factory=OccupancyGridConfig)
    """The occupancy grid that skips empty space."""


def ray_sphere_interval(origins: Tensor, directions: Tensor, radius: float) -> tuple[Tensor, Tensor, Tensor]:
    """Entry and exit distances ``[R]`` of unit rays through a sphere at the origin, and a hit mask."""
    t_mid = -(origins * directions).sum(-1)
    closest_sq = (origins * origins).sum(-1) - t_mid**2
    half = (radius**2 - closest_sq).clamp_min(0.0).sqrt()
    hit = closest_sq < radius**2
    near = (t_mid - half).clamp_min(0.0)
    far = (t_mid + half).clamp_min(0.0)
    return near, far, hit


def evaluate_samples(
    field_: NeRFField, shading: ShadingConfig, points: Tensor, light: Tensor | None, mode: str, need_normals: bool
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Density ``[M]``, shaded colour ``[M,3]`` and normals ``[M,3]`` (or None) at samples."""
    sigma, albedo = field_(points)
    normals = field_.normals(points, sigma) if (need_normals or mode != "albedo") else None
    color = albedo if mode == "albedo" else shade(albedo, normals, light, mode, shading)
    return sigma, color, normals


class VolumeRenderer(nn.Module):
    """Renders a ``NeRFField`` over a ``Background`` with DreamFusion's shading."""

    def __init__(self, field_: NeRFField, background: Background, config: VolumeRendererConfig, shading: ShadingConfig):
        super().__init__()
        self.field = field_
        self.background = background
        self.config = config
        self.shading = shading
        self.occupancy = OccupancyGrid(config.occupancy, field_.bounds_radius)

    def sample_along_rays(self, origins: Tensor, directions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Stratified ``t_starts, t_ends [R,S]`` and the rays' hit mask ``[R]``."""
        near, far, hit = ray_sphere_interval(origins, directions, self.field.bounds_radius)
        n = self.config.n_samples
        bins = torch.linspace(0.0, 1.0, n + 1, device=origins.device)
        edges = near[:, None] + (far - near)[:, None] * bins[None]  # [R,S+1]
        if self.training and self.config.stratified:
            width = (far - near)[:, None] / n
            jitter = torch.rand(edges.shape[0], 1).to(origins.device) * width
            edges = edges + jitter
            edges = torch.minimum(edges, far[:, None])
        return edges[:, :-1], edges[:, 1:], hit

    def forward(self, cameras: Cameras, shading_mode: str = "albedo", jitter_light: bool = True) -> Render:
        origins, directions = cameras.rays()  # [B,H,W,3]
        batch, height, width = origins.shape[:3]
        rays_o, rays_d = origins.reshape(-1, 3), directions.reshape(-1, 3)
        t_starts, t_ends, hit = self.sample_along_rays(rays_o, rays_d)
        t_mid = 0.5 * (t_starts + t_ends)  # [R,S]
        points = rays_o[:, None, :] + rays_d[:, None, :] * t_mid[..., None]  # [R,S,3]
        keep = hit[:, None] & self.occupancy.occupied(points)  # [R,S]
        flat_points = points[keep]  # [M,3]
        light_kept = None
        if shading_mode != "albedo":
            light = light_directions(cameras, self.shading, jitter_light and self.training)  # [B,3]
            ray_camera = torch.arange(batch, device=rays_o.device).repeat_interleave(height * width)
            light_kept = light[ray_camera][:, None, :].expand(-1, t_mid.shape[1], 3)[keep]
        sigma_kept, color_kept, normals_kept = evaluate_samples(
            self.field, self.shading, flat_points, light_kept, shading_mode, need_normals=self.training
        )

        sigmas = torch.zeros_like(t_mid).masked_scatter(keep, sigma_kept)
        colors = torch.zeros(*t_mid.shape, 3, device=t_mid.device).masked_scatter(keep[..., None], color_kept)
        weights, _, _ = render_weight_from_density(t_starts, t_ends, sigmas)  # [R,S]
        opacity = accumulate_along_rays(weights, None)  # [R,1]
        rgb = accumulate_along_rays(weights, colors)  # [R,3]
        depth = accumulate_along_rays(weights, t_mid[..., None])  # [R,1]
        background = self.background(rays_d)
        rgb = rgb + (1.0 - opacity) * background

        extras: dict = {}
        normal_image = None
        if normals_kept is not None:
            normals = torch.zeros(*t_mid.shape, 3, device=t_mid.device).masked_scatter(keep[..., None], normals_kept)
            normal_image = accumulate_along_rays(weights, normals).view(batch, height, width, 3)
            # DreamFusion's orientation loss: sum_i stopgrad(w_i) max(0, n_i . d)^2 (appendix A.2)
            facing_away = (normals * rays_d[:, None, :]).sum(-1).clamp_min(0.0) ** 2
            extras["orientation"] = (weights.detach() * facing_away).sum(-1).mean()
        extras["samples_queried"] = int(flat_points.shape[0])
        return Render(
            rgb=rgb.view(batch, height, width, 3),
            alpha=opacity.view(batch, height, width, 1),
            depth=depth.view(batch, height, width, 1),
            normal=normal_image,
            extras=extras,
        )

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Scene upkeep after an optimizer step: refresh the occupancy grid."""
        self.occupancy.update(step, self.field.density)
