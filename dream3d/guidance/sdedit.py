"""SDEdit-style image targets for texture refinement (Meng et al. 2022, "SDEdit"), as
DreamGaussian's stage 2 uses them (Tang et al. 2023, sec. 3.3).

A render is encoded, noised to a timestep ``t0 = strength * T`` and denoised back to
``t = 0`` with DDIM (Song et al. 2021) and classifier-free guidance; the decoded image is
a target the texture is pulled towards with an MSE loss (``SDEditGuidance``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dream3d.cameras import Cameras
from dream3d.guidance.diffusion import ddim_denoise
from dream3d.guidance.sds import resize_to_prior
from dream3d.interfaces import Condition, Prior


@dataclass
class SDEditConfig:
    """How refinement targets are made."""

    guidance_scale: float = 7.5
    """Classifier-free guidance of the denoiser."""
    ddim_steps: int = 20
    """DDIM steps of a full (strength 1) denoising; a target uses ``strength`` of them."""
    strength_start: float = 0.5
    """Noise level (fraction of the timesteps) at the start of the refinement."""
    strength_end: float = 0.2
    """Noise level at the end: it decreases linearly over the stage."""


class SDEditTargets:
    """Makes denoised targets ``[B,3,H,W]`` for renders, with a frozen prior."""

    def __init__(self, prior: Prior, config: SDEditConfig):
        from diffusers import DDIMScheduler

        self.prior = prior
        self.config = config
        self.scheduler = DDIMScheduler.from_config(prior.scheduler.config)

    def strength(self, step: int, total: int) -> float:
        progress = min(step / max(total - 1, 1), 1.0)
        return self.config.strength_start + (self.config.strength_end - self.config.strength_start) * progress

    @torch.no_grad()
    def __call__(self, images: Tensor, cameras: Cameras, condition: Condition, strength: float) -> Tensor:
        """Targets for renders ``images [B,3,H,W]`` in [0,1], at the renders' resolution."""
        height, width = images.shape[-2:]
        latents = self.prior.encode_images(resize_to_prior(images, self.prior.image_size)).float()
        self.scheduler.set_timesteps(self.config.ddim_steps)
        timesteps = self.scheduler.timesteps  # descending
        start = max(int(round(len(timesteps) * (1.0 - strength))), 0)
        timesteps = timesteps[start:]
        if len(timesteps) == 0:
            return images
        noise = torch.randn_like(latents)
        latents = self.prior.add_noise(latents, noise, timesteps[:1].repeat(latents.shape[0]).to(latents.device))
        cond, uncond = condition.for_cameras(cameras)
        latents = ddim_denoise(self.prior, self.scheduler, latents, timesteps, cond, uncond, self.config.guidance_scale)
        decoded = self.prior.decode_latents(latents)
        return F.interpolate(decoded, size=(height, width), mode="bilinear", align_corners=False)


class SDEditGuidance:
    """DreamGaussian's refinement objective behind the ``Guidance`` interface: MSE to an
    SDEdit target whose strength falls linearly over ``num_steps`` from ``start_step``."""

    def __init__(self, prior: Prior, config: SDEditConfig, start_step: int, num_steps: int):
        self.targets = SDEditTargets(prior, config)
        self.start_step = start_step
        self.num_steps = num_steps

    def state_modules(self) -> dict[str, nn.Module]:
        return {}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def loss(self, images: Tensor, cameras: Cameras, condition: Condition, step: int) -> tuple[Tensor, dict]:
        strength = self.targets.strength(step - self.start_step, self.num_steps)
        target = self.targets(images.detach(), cameras, condition, strength)
        return F.mse_loss(images, target), {"strength": strength}
