"""``Prior``: a frozen latent diffusion model used as a score function.

A prior encodes images to latents and back, exposes its noise schedule, and predicts the
noise of noisy latents for a ``Conditioning``. Guidance (SDS, VSD, SDEdit) uses nothing
else, so a text-to-image model (Stable Diffusion, the bundled priors), a view-conditioned
model (Zero123) and a multi-view model (MVDream) are interchangeable behind it. Priors are
built from injected components; one factory (``dream3d.prior.factory.build_prior``) loads
them from a config, and ``from_pretrained`` is the one place that reads weights.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from dream3d.interfaces.condition import Conditioning


@runtime_checkable
class Prior(Protocol):
    """Latents follow Stable Diffusion: ``z = vae.encode(2x - 1) * scaling_factor``."""

    name: str
    alphas_cumprod: Tensor  # [T] cumulative product of the noise schedule
    scheduler: object  # a diffusers scheduler (its ``config`` builds samplers such as DDIM)
    unet: nn.Module  # the denoiser (VSD adds a LoRA adapter to it)

    @property
    def device(self) -> torch.device: ...

    @property
    def dtype(self) -> torch.dtype: ...

    @property
    def num_train_timesteps(self) -> int: ...

    @property
    def image_size(self) -> int:
        """The resolution renders are resized to before encoding."""
        ...

    def encode_images(self, images: Tensor) -> Tensor:
        """Latents ``[B,C,h,w]`` of images ``[B,3,H,W]`` in [0,1]."""
        ...

    def decode_latents(self, latents: Tensor) -> Tensor:
        """Images ``[B,3,H,W]`` in [0,1] from latents."""
        ...

    def add_noise(self, latents: Tensor, noise: Tensor, timesteps: Tensor) -> Tensor:
        """Forward diffusion ``z_t = sqrt(abar_t) z + sqrt(1 - abar_t) eps``."""
        ...

    def predict_noise(self, noisy_latents: Tensor, timesteps: Tensor, conditioning: Conditioning) -> Tensor:
        """The network's noise prediction ``[B,C,h,w]`` in fp32."""
        ...
