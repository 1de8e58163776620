"""The CUDA volume renderer: nerfacc's ``OccGridEstimator`` for sampling and its
``rendering`` for packed compositing (Li et al. 2023, "NerfAcc"). Only built on CUDA."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from dream3d.cameras import Cameras
from dream3d.optional import nerfacc_occupancy_grid, require
from dream3d.render.shading import ShadingConfig, light_directions
from dream3d.render.types import Render
from dream3d.render.volume import VolumeRendererConfig, evaluate_samples
from dream3d.scene.background import Background
from dream3d.scene.nerf import NeRFField


class NerfaccVolumeRenderer(nn.Module):
    """Same interface as ``VolumeRenderer``: ``forward(cameras, mode) -> Render``, ``update``."""

    def __init__(self, field_: NeRFField, background: Background, config: VolumeRendererConfig, shading: ShadingConfig):
        super().__init__()
        estimator_cls = require(nerfacc_occupancy_grid(), "renderer.backend=nerfacc", "nerfacc's CUDA extension")
        import nerfacc

        self._nerfacc = nerfacc
        self.field = field_
        self.background = background
        self.config = config
        self.shading = shading
        r = field_.bounds_radius
        self.estimator = estimator_cls(roi_aabb=[-r, -r, -r, r, r, r], resolution=config.occupancy.resolution * 4, levels=1)
        self.step_size = 2.0 * 3**0.5 * r / config.n_samples

    def forward(self, cameras: Cameras, shading_mode: str = "albedo", jitter_light: bool = True) -> Render:
        origins, directions = cameras.rays()
        batch, height, width = origins.shape[:3]
        rays_o, rays_d = origins.reshape(-1, 3), directions.reshape(-1, 3)
        n_rays = rays_o.shape[0]
        ray_camera = torch.arange(batch, device=rays_o.device).repeat_interleave(height * width)
        light = light_directions(cameras, self.shading, jitter_light and self.training)[ray_camera]

        def points_of(t_starts: Tensor, t_ends: Tensor, ray_indices: Tensor) -> Tensor:
            return rays_o[ray_indices] + rays_d[ray_indices] * (0.5 * (t_starts + t_ends))[:, None]

        def sigma_fn(t_starts, t_ends, ray_indices):
            return self.field.density(points_of(t_starts, t_ends, ray_indices))

        ray_indices, t_starts, t_ends = self.estimator.sampling(
            rays_o, rays_d, sigma_fn=sigma_fn, render_step_size=self.step_size, stratified=self.training
        )
        cache: dict[str, Tensor] = {}

        def rgb_sigma_fn(t_starts, t_ends, ray_indices):
            sigma, color, normals = evaluate_samples(
                self.field, self.shading, points_of(t_starts, t_ends, ray_indices),
                light[ray_indices], shading_mode, need_normals=self.training,
            )
            if normals is not None:
                cache["normals"] = normals
            return color, sigma

        rgb, opacity, depth, info = self._nerfacc.rendering(
            t_starts, t_ends, ray_indices, n_rays=n_rays, rgb_sigma_fn=rgb_sigma_fn
        )
        rgb = rgb + (1.0 - opacity) * self.background(rays_d)
        extras: dict = {"samples_queried": int(t_starts.shape[0])}
        if "normals" in cache:
            weights = info["weights"]
            facing_away = (cache["normals"] * rays_d[ray_indices]).sum(-1).clamp_min(0.0) ** 2
            extras["orientation"] = (weights.detach() * facing_away).sum() / n_rays
        return Render(
            rgb=rgb.view(batch, height, width, 3), alpha=opacity.view(batch, height, width, 1),
            depth=depth.view(batch, height, width, 1), extras=extras,
        )

    @torch.no_grad()
    def update(self, step: int) -> None:
        self.estimator.update_every_n_steps(
            step=step, occ_eval_fn=lambda x: self.field.density(x) * self.step_size,
            occ_thre=self.config.occupancy.threshold, n=self.config.occupancy.update_every,
        )
