"""What every latent diffusion prior shares: a frozen UNet, a VAE and a noise schedule.

``LatentDiffusionPrior`` holds them and implements the parts of ``dream3d.interfaces.Prior``
that do not depend on the condition: the latent codec, the forward diffusion and the
sizes. The text-to-image prior (``model.py``) and the view-conditioned prior
(``view_conditioned.py``) add their own conditioning and ``predict_noise``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dream3d.prior.source import resolve_source
from dream3d.prior.traced_unet import TracedUNet


@dataclass
class LoadPlan:
    """Where and how a prior's components load: the device, the dtype (fp16 on CUDA unless
    told otherwise, fp32 on a CPU), the local folder or hub id, and the loaders' keywords."""

    device: torch.device
    dtype: torch.dtype
    source: str
    kwargs: dict

    @classmethod
    def of(cls, name_or_path: str, device: str | torch.device, dtype: torch.dtype | None) -> "LoadPlan":
        device = torch.device(device)
        if dtype is None:
            dtype = torch.float16 if device.type == "cuda" else torch.float32
        source, local_only = resolve_source(name_or_path)
        return cls(device, dtype, source, {"local_files_only": local_only})


class LatentDiffusionPrior(nn.Module):
    """Latents follow Stable Diffusion (Rombach et al. 2022): ``z = vae.encode(2x-1) * s``
    with ``s = vae.config.scaling_factor``."""

    def __init__(self, unet: nn.Module, vae: nn.Module, scheduler, name: str, frozen: tuple[nn.Module | None, ...] = ()):
        super().__init__()
        self.unet = unet
        self.vae = vae
        self.scheduler = scheduler
        self.name = name
        for module in (unet, vae, *frozen):
            if module is not None:
                module.requires_grad_(False)
                module.eval()
        alphas_cumprod = torch.as_tensor(scheduler.alphas_cumprod, dtype=torch.float32)
        self.register_buffer("alphas_cumprod", alphas_cumprod, persistent=False)  # [T]
        self.traced_unet = TracedUNet()
        """Traces of the UNet's forward, used on a CPU where nothing can change it (``traced_unet.py``)."""

    def _apply(self, fn, recurse: bool = True):
        self.traced_unet.reset()  # a trace holds the tensors from before a move or a cast
        return super()._apply(fn, recurse)

    def unet_forward(self, sample: Tensor, timesteps: Tensor, context: Tensor,
                     class_labels: Tensor | None = None) -> Tensor:
        """The UNet's noise prediction (through a trace where that is exact)."""
        return self.traced_unet(self.unet, sample, timesteps, context, class_labels)

    @property
    def device(self) -> torch.device:
        return self.alphas_cumprod.device

    @property
    def dtype(self) -> torch.dtype:
        # diffusers' ``unet.dtype`` walks every module; the first parameter says the same
        return next(self.unet.parameters()).dtype

    @property
    def num_train_timesteps(self) -> int:
        return int(self.alphas_cumprod.shape[0])

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    @property
    def latent_size(self) -> int:
        return int(self.unet.config.sample_size)

    @property
    def image_size(self) -> int:
        """The resolution the prior was trained at (renders are resized to it)."""
        return self.latent_size * self.vae_scale_factor

    def encode_images(self, images: Tensor) -> Tensor:
        """Latents ``[B,C,h,w]`` of images ``[B,3,H,W]`` in [0,1] (posterior mean, scaled)."""
        x = images.to(self.dtype) * 2.0 - 1.0
        posterior = self.vae.encode(x).latent_dist
        return posterior.mean * self.vae.config.scaling_factor

    def decode_latents(self, latents: Tensor) -> Tensor:
        """Images ``[B,3,H,W]`` in [0,1] from scaled latents."""
        x = self.vae.decode(latents.to(self.dtype) / self.vae.config.scaling_factor).sample
        return (x.float() * 0.5 + 0.5).clamp(0.0, 1.0)

    def add_noise(self, latents: Tensor, noise: Tensor, timesteps: Tensor) -> Tensor:
        """Forward diffusion ``z_t = sqrt(abar_t) z + sqrt(1 - abar_t) eps`` (Ho et al. 2020, eq. 4)."""
        abar = self.alphas_cumprod[timesteps].view(-1, 1, 1, 1).to(latents.dtype)
        return abar.sqrt() * latents + (1.0 - abar).sqrt() * noise

    def clean_latents(self, noisy: Tensor, eps: Tensor, timesteps: Tensor) -> Tensor:
        """The clean estimate ``(z_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)``: ``add_noise`` solved
        for the latents (Ho et al. 2020, eq. 15)."""
        abar = self.alphas_cumprod[timesteps].view(-1, 1, 1, 1).to(noisy.dtype)
        return (noisy - (1.0 - abar).sqrt() * eps) / abar.sqrt()
