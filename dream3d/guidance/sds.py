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

Both (``space: latent+image``, HiFA's own loss, sec. 3.2: the latent term plus ``lambda_rgb``
times the image term, from one noise draw): the latent term keeps what the blurry one-step
estimate of the high-noise steps lacks (a mug's handle), the image term holds the colour
(``benchmarks/dreamfusion-mv-hifa.md``). ``configs/dreamfusion.yaml`` uses it: on world v2 it forms the
yellow mug, for 22 of 24 seen runs passed against 20 (``benchmarks/eval-world-v2-dreamfusion.md``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dream3d.cameras import Cameras
from dream3d.guidance.diffusion import NoisyLatents, Weighting, guided_noise, noise_latents, weighting
from dream3d.guidance.schedules import TimestepConfig, TimestepSchedule
from dream3d.guidance.vsd_config import VSDConfig
from dream3d.interfaces import Condition, Prior


@dataclass
class GuidanceConfig:
    """Score distillation settings shared by SDS and VSD."""

    type: Literal["sds", "vsd", "multiview-sds"] = "sds"
    """``sds`` (DreamFusion), ``vsd`` (ProlificDreamer) or ``multiview-sds`` (MVDream: one joint SDS
    on the views of an object; needs ``prior.type: multiview``)."""
    guidance_scale: float = 100.0
    """Classifier-free guidance scale of the frozen prior."""
    weighting: Weighting = "sds"
    """w(t): ``sds`` (1 - abar), ``uniform`` or ``fantasia3d``."""
    timesteps: TimestepConfig = field(default_factory=TimestepConfig)
    """Timestep range and its annealing."""
    grad_clip: Optional[float] = None
    """Clamp each element of the latent (or image) gradient to [-c, c]; null disables."""
    space: Literal["latent", "image", "latent+image"] = "latent"
    """Where the SDS residual is taken: ``latent`` (DreamFusion), ``image`` (the render against
    the decoded one-step estimate, HiFA) or ``latent+image`` (both, HiFA's loss). VSD takes
    ``latent`` or ``latent+image`` (``dream3d.guidance.vsd``)."""
    image_weight: float = 1.0
    """HiFA's lambda_rgb: the image term's weight when ``space`` is ``latent+image``."""
    vsd: VSDConfig = field(default_factory=VSDConfig)
    """The LoRA score model (``type: vsd`` only)."""


def latents_surrogate_loss(latents: Tensor, grad: Tensor) -> Tensor:
    """A loss whose gradient with respect to ``latents`` (or any tensor) is exactly ``grad``."""
    target = (latents - grad).detach()
    return 0.5 * F.mse_loss(latents, target, reduction="sum")


def resize_to_prior(images: Tensor, size: int) -> Tensor:
    """Bilinear resize of ``[B,3,H,W]`` renders to the prior's input resolution."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def finish_gradient(grad: Tensor, t: Tensor, clip: float | None) -> tuple[Tensor, dict]:
    """NaNs to zero, optional clamp to [-clip, clip], and the draw's statistics."""
    grad = torch.nan_to_num(grad)
    if clip is not None:
        grad = grad.clamp(-clip, clip)
    return grad, {"t": float(t.float().mean()), "grad_norm": float(grad.norm())}


class SDS:
    """Score distillation from a frozen prior into differentiable renders (``Guidance``)."""

    def __init__(self, prior: Prior, config: GuidanceConfig, max_steps: int):
        self.prior = prior
        self.config = config
        self.schedule = TimestepSchedule(config.timesteps, prior.num_train_timesteps, max_steps)

    def state_modules(self) -> dict[str, nn.Module]:
        """SDS has no trainable state."""
        return {}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def draw(self, latents: Tensor, step: int) -> NoisyLatents:
        """Timesteps from the schedule, then noise: the random draws of one step, in order."""
        t = self.schedule.sample(step, latents.shape[0], latents.device)
        return noise_latents(self.prior, latents, t)

    def weight(self, t: Tensor) -> Tensor:
        """w(t) ``[B,1,1,1]``."""
        return weighting(self.config.weighting, self.prior.alphas_cumprod, t).view(-1, 1, 1, 1)

    def pretrained_noise(self, draw: NoisyLatents, cameras: Cameras, condition: Condition) -> Tensor:
        """The frozen prior's CFG prediction ``eps_hat [B,C,h,w]`` for a draw."""
        cond, uncond = condition.for_cameras(cameras)
        return guided_noise(self.prior, draw.noisy, draw.t, cond, uncond, self.config.guidance_scale)

    def latent_gradient(self, latents: Tensor, cameras: Cameras, condition: Condition, step: int) -> tuple[Tensor, dict]:
        """``w(t) (eps_hat - eps)`` for latents ``[B,C,h,w]`` and the stats of the draw."""
        draw = self.draw(latents, step)
        eps_hat = self.pretrained_noise(draw, cameras, condition)
        return finish_gradient(self.noise_residual(draw, eps_hat), draw.t, self.config.grad_clip)

    def noise_residual(self, draw: NoisyLatents, eps_hat: Tensor) -> Tensor:
        """``w(t) (eps_hat - eps)`` (SDS's latent term)."""
        return self.weight(draw.t) * (eps_hat - draw.noise)

    def image_gradient(self, images: Tensor, latents: Tensor, cameras: Cameras, condition: Condition, step: int) -> tuple[Tensor, dict]:
        """``w(t) (alpha_t / sigma_t) (x - D(z0_hat))`` for images ``[B,3,H,W]`` whose latents are given."""
        draw = self.draw(latents, step)
        eps_hat = self.pretrained_noise(draw, cameras, condition)
        return finish_gradient(self.decoded_residual(images, draw, eps_hat), draw.t, self.config.grad_clip)

    def decoded_residual(self, images: Tensor, draw: NoisyLatents, eps_hat: Tensor) -> Tensor:
        """``w(t) (alpha_t / sigma_t) (x - D((z_t - sigma_t eps_hat) / alpha_t))`` (HiFA's image term)."""
        abar = self.prior.alphas_cumprod[draw.t].view(-1, 1, 1, 1).to(draw.noisy.dtype)
        alpha, sigma = abar.sqrt(), (1.0 - abar).sqrt()
        with torch.no_grad():
            denoised = self.prior.decode_latents(self.prior.clean_latents(draw.noisy, eps_hat, draw.t))
        return self.weight(draw.t) * (alpha / sigma) * (images.detach() - denoised)

    def both_gradients(self, images: Tensor, latents: Tensor, cameras: Cameras, condition: Condition,
                       step: int) -> tuple[Tensor, Tensor, dict]:
        """The latent and the image gradient of one draw: the noise and the decoded residual."""
        draw = self.draw(latents.detach(), step)
        eps_hat = self.pretrained_noise(draw, cameras, condition)
        latent_grad, stats = finish_gradient(self.noise_residual(draw, eps_hat), draw.t, self.config.grad_clip)
        image_grad, image_stats = finish_gradient(self.decoded_residual(images, draw, eps_hat), draw.t, self.config.grad_clip)
        return latent_grad, image_grad, {**stats, "image_grad_norm": image_stats["grad_norm"]}

    def loss(self, images: Tensor, cameras: Cameras, condition: Condition, step: int) -> tuple[Tensor, dict]:
        """SDS loss of renders ``[B,3,H,W]`` in [0,1]; its gradient is the SDS gradient."""
        images = resize_to_prior(images, self.prior.image_size)
        if self.config.space == "image":
            with torch.no_grad():
                latents = self.prior.encode_images(images).float()
            grad, stats = self.image_gradient(images, latents, cameras, condition, step)
            return latents_surrogate_loss(images, grad), stats
        latents = self.prior.encode_images(images).float()
        if self.config.space == "latent+image":
            latent_grad, image_grad, stats = self.both_gradients(images, latents, cameras, condition, step)
            loss = latents_surrogate_loss(latents, latent_grad) + self.config.image_weight * latents_surrogate_loss(images, image_grad)
            return loss, stats
        grad, stats = self.latent_gradient(latents, cameras, condition, step)
        return latents_surrogate_loss(latents, grad), stats
