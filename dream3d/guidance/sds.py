"""Score distillation sampling (DreamFusion, Poole et al. 2022, arXiv:2209.14988).

The SDS gradient with respect to the latents z of a render is

    grad_z = w(t) * (eps_hat(z_t; y, t) - eps),   z_t = sqrt(abar_t) z + sqrt(1 - abar_t) eps,

where eps_hat is the classifier-free-guided prediction of the frozen prior. It is
injected through the surrogate loss ``0.5 * ||z - stopgrad(z - grad_z)||^2`` (summed), whose
gradient with respect to z is exactly ``grad_z``.

Image space (``space: image``, after HiFA, Zhu et al. 2023, arXiv:2305.18766, sec. 3.2): with
the one-step estimate ``z0_hat = (z_t - sigma_t eps_hat) / alpha_t`` (alpha_t = sqrt(abar_t),
sigma_t = sqrt(1 - abar_t)) the latent gradient is ``w(t) (alpha_t / sigma_t) (z - z0_hat)``;
the image-space gradient puts the render x and the decoded estimate in its place:

    grad_x = w(t) * (alpha_t / sigma_t) * (x - D(z0_hat)).

It skips the encoder's Jacobian, which weights colour directions unevenly: with the bundled
prior, latent SDS leaves an orange object pink after 400 steps, where image-space SDS reaches
orange.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from dream3d.cameras import Cameras
from dream3d.guidance.vsd_config import VSDConfig
from dream3d.guidance.schedules import TimestepConfig, TimestepSchedule, classifier_free_guidance, weighting
from dream3d.prior.model import Prior
from dream3d.prior.prompts import PromptEmbeddings


@dataclass
class GuidanceConfig:
    """Score distillation settings shared by SDS and VSD."""

    type: str = "sds"
    """``sds`` (DreamFusion) or ``vsd`` (ProlificDreamer)."""
    guidance_scale: float = 100.0
    """Classifier-free guidance scale of the frozen prior."""
    weighting: str = "sds"
    """w(t): ``sds`` (1 - abar), ``uniform`` or ``fantasia3d``."""
    timesteps: TimestepConfig = field(default_factory=TimestepConfig)
    """Timestep range and its annealing."""
    grad_clip: Optional[float] = None
    """Clamp each element of the latent (or image) gradient to [-c, c]; null disables."""
    space: str = "latent"
    """Where the SDS residual is taken: ``latent`` (DreamFusion) or ``image`` (the render
    against the decoded one-step estimate, HiFA); ``sds`` guidance only."""
    vsd: VSDConfig = field(default_factory=VSDConfig)
    """The LoRA score model (``type: vsd`` only)."""


SPACES = ("latent", "image")


def latents_surrogate_loss(latents: Tensor, grad: Tensor) -> Tensor:
    """A loss whose gradient with respect to ``latents`` (or any tensor) is exactly ``grad``."""
    target = (latents - grad).detach()
    return 0.5 * F.mse_loss(latents, target, reduction="sum")


def resize_to_prior(images: Tensor, size: int) -> Tensor:
    """Bilinear resize of ``[B,3,H,W]`` renders to the prior's input resolution."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


class SDS:
    """Score distillation from a frozen prior into differentiable renders."""

    def __init__(self, prior: Prior, config: GuidanceConfig, max_steps: int):
        self.prior = prior
        self.config = config
        self.schedule = TimestepSchedule(config.timesteps, prior.num_train_timesteps, max_steps)
        weighting(config.weighting, prior.alphas_cumprod, torch.zeros(1, dtype=torch.long))  # validate early
        if config.space not in SPACES:
            raise ValueError(f"system.guidance.space must be one of {SPACES}, got {config.space!r}")

    def guided_noise(self, noisy: Tensor, t: Tensor, cond: Tensor, uncond: Tensor) -> Tensor:
        """CFG prediction ``[B,C,h,w]`` from one batched UNet call (cond and uncond)."""
        with torch.no_grad():
            eps = self.prior.predict_noise(torch.cat([noisy, noisy]), torch.cat([t, t]), torch.cat([cond, uncond]))
        eps_cond, eps_uncond = eps.chunk(2)
        return classifier_free_guidance(eps_uncond, eps_cond, self.config.guidance_scale)

    def _draw(self, latents: Tensor, cameras: Cameras, prompts: PromptEmbeddings, step: int) -> dict:
        """One SDS draw: timestep, noise, noisy latents, guided prediction and weight."""
        t = self.schedule.sample(step, latents.shape[0], latents.device)
        noise = torch.randn_like(latents)
        noisy = self.prior.add_noise(latents.detach(), noise, t)
        cond, uncond = prompts.for_cameras(cameras)
        eps_hat = self.guided_noise(noisy, t, cond, uncond)
        w = weighting(self.config.weighting, self.prior.alphas_cumprod, t).view(-1, 1, 1, 1)
        return {"t": t, "noise": noise, "noisy": noisy, "eps_hat": eps_hat, "w": w}

    def _finish(self, grad: Tensor, t: Tensor) -> tuple[Tensor, dict]:
        grad = torch.nan_to_num(grad)
        if self.config.grad_clip is not None:
            grad = grad.clamp(-self.config.grad_clip, self.config.grad_clip)
        return grad, {"t": float(t.float().mean()), "grad_norm": float(grad.norm())}

    def latent_gradient(self, latents: Tensor, cameras: Cameras, prompts: PromptEmbeddings, step: int) -> tuple[Tensor, dict]:
        """``w(t) (eps_hat - eps)`` for latents ``[B,C,h,w]`` and the stats of the draw."""
        draw = self._draw(latents, cameras, prompts, step)
        return self._finish(draw["w"] * (draw["eps_hat"] - draw["noise"]), draw["t"])

    def image_gradient(self, images: Tensor, latents: Tensor, cameras: Cameras, prompts: PromptEmbeddings, step: int) -> tuple[Tensor, dict]:
        """``w(t) (alpha_t / sigma_t) (x - D(z0_hat))`` for images ``[B,3,H,W]`` whose latents are given."""
        draw = self._draw(latents, cameras, prompts, step)
        abar = self.prior.alphas_cumprod[draw["t"]].view(-1, 1, 1, 1).to(latents.dtype)
        alpha, sigma = abar.sqrt(), (1.0 - abar).sqrt()
        with torch.no_grad():
            denoised = self.prior.decode_latents((draw["noisy"] - sigma * draw["eps_hat"]) / alpha)
        return self._finish(draw["w"] * (alpha / sigma) * (images.detach() - denoised), draw["t"])

    def loss(self, images: Tensor, cameras: Cameras, prompts: PromptEmbeddings, step: int) -> tuple[Tensor, dict]:
        """SDS loss of renders ``[B,3,H,W]`` in [0,1]; its gradient is the SDS gradient."""
        images = resize_to_prior(images, self.prior.image_size)
        if self.config.space == "image":
            with torch.no_grad():
                latents = self.prior.encode_images(images).float()
            grad, stats = self.image_gradient(images, latents, cameras, prompts, step)
            return latents_surrogate_loss(images, grad), stats
        latents = self.prior.encode_images(images).float()
        grad, stats = self.latent_gradient(latents, cameras, prompts, step)
        return latents_surrogate_loss(latents, grad), stats
