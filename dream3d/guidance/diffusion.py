"""What every guidance shares: noising, classifier-free guidance, weighting and DDIM.

- Forward diffusion (Ho et al. 2020, eq. 4): ``z_t = sqrt(abar_t) z + sqrt(1 - abar_t) eps``.
- Classifier-free guidance (Ho & Salimans 2022, eq. 6): ``eps_u + s (eps_c - eps_u)``, from
  one batched network call over ``[cond, uncond]``; or Perp-Neg (``dream3d.guidance.perp_neg``)
  when the condition carries negative prompts.
- Weightings w(t), with abar_t the cumulative product of the noise schedule:
  ``sds``: ``1 - abar_t`` (DreamFusion, Poole et al. 2022, sec. 3: w(t) = sigma_t^2);
  ``uniform``: 1; ``fantasia3d``: ``sqrt(abar_t) * (1 - abar_t)`` (Fantasia3D, Chen et al. 2023).
- DDIM denoising (Song et al. 2021) with CFG, for SDEdit targets and 2D samples.

SDS, VSD and SDEdit call these; none of them re-implements a piece.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from dream3d.guidance.perp_neg import has_negatives, perp_neg_noise
from dream3d.interfaces import Conditioning, Prior

Weighting = Literal["sds", "uniform", "fantasia3d"]


def weighting(name: Weighting, alphas_cumprod: Tensor, timesteps: Tensor) -> Tensor:
    """w(t) ``[B]`` for the named weighting (see module docstring)."""
    abar = alphas_cumprod[timesteps].float()
    if name == "sds":
        return 1.0 - abar
    if name == "uniform":
        return torch.ones_like(abar)
    if name == "fantasia3d":
        return abar.sqrt() * (1.0 - abar)
    raise ValueError(f"weighting must be one of sds, uniform, fantasia3d; got {name!r}")


def classifier_free_guidance(eps_uncond: Tensor, eps_cond: Tensor, scale: float) -> Tensor:
    """``eps_u + s (eps_c - eps_u)`` (Ho & Salimans 2022, eq. 6)."""
    return eps_uncond + scale * (eps_cond - eps_uncond)


@dataclass
class NoisyLatents:
    """One forward-diffusion draw: timesteps ``[B]``, noise and noisy latents ``[B,C,h,w]``."""

    t: Tensor
    noise: Tensor
    noisy: Tensor


def noise_latents(prior: Prior, latents: Tensor, t: Tensor) -> NoisyLatents:
    """Noise detached ``latents`` to timesteps ``t``; the noise comes from the global RNG."""
    noise = torch.randn_like(latents)
    return NoisyLatents(t, noise, prior.add_noise(latents.detach(), noise, t))


@torch.no_grad()
def guided_noise(prior: Prior, noisy: Tensor, t: Tensor, cond: Conditioning, uncond: Conditioning,
                 scale: float) -> Tensor:
    """CFG prediction ``[B,C,h,w]`` from one batched network call (cond first, then uncond);
    Perp-Neg's when ``cond`` carries negative prompts (``dream3d.guidance.perp_neg``)."""
    if has_negatives(cond):
        return perp_neg_noise(prior, noisy, t, cond, uncond, scale)
    eps = prior.predict_noise(torch.cat([noisy, noisy]), torch.cat([t, t]), Conditioning.cat([cond, uncond]))
    eps_cond, eps_uncond = eps.chunk(2)
    return classifier_free_guidance(eps_uncond, eps_cond, scale)


@torch.no_grad()
def ddim_denoise(prior: Prior, scheduler, latents: Tensor, timesteps: Tensor, cond: Conditioning,
                 uncond: Conditioning, scale: float) -> Tensor:
    """Run DDIM ``scheduler`` (timesteps already set) from ``latents`` over ``timesteps``."""
    for t in timesteps:
        t_batch = t.repeat(latents.shape[0]).to(latents.device)
        eps = guided_noise(prior, scheduler.scale_model_input(latents, t), t_batch, cond, uncond, scale)
        latents = scheduler.step(eps.to(latents.dtype), t, latents).prev_sample
    return latents
