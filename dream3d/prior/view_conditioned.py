"""A view-conditioned latent diffusion prior in Zero123's layout (Liu et al. 2023,
"Zero-1-to-3: Zero-shot One Image to 3D Object").

The network denoises a novel view of the object in a reference image:

- the UNet takes 8 input channels: the noisy latent concatenated with the reference
  image's (unscaled) VAE latent;
- its cross-attention reads one token: a CLIP image embedding of the reference, joined
  with the relative camera pose and projected back to the embedding width
  (``CameraProjection``, a linear map 772 -> 768 for Zero123-XL);
- classifier-free guidance drops both the token and the reference latent (zeros).

The folder layout is the diffusers one used for ``ashawkey/zero123-xl-diffusers``:
``unet/``, ``vae/``, ``image_encoder/`` (``CLIPVisionModelWithProjection``),
``cc_projection/``, ``scheduler/`` and ``feature_extractor/`` (the CLIP image mean and
standard deviation). ``ViewConditionedPrior.from_pretrained`` reads it, from a local
folder or from the hub.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import Tensor, nn

from dream3d.interfaces.condition import Conditioning
from dream3d.prior.latent import LatentDiffusionPrior, LoadPlan
from dream3d.prior.source import BUNDLED_PRIOR, PriorLoadError

log = logging.getLogger(__name__)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
"""OpenAI CLIP's image normalisation, used when a folder has no ``feature_extractor``."""


POSE_LABELS = {"class_embed_type": "projection", "projection_class_embeddings_input_dim": 4}
"""The UNet config keys of a view prior that also reads the relative pose ``[B,4]`` in every block,
through its timestep embedding (diffusers' projection class embedding); Zero123's UNet has neither."""


def reads_pose_labels(unet) -> bool:
    """Whether ``unet`` takes the relative pose as ``class_labels`` (``POSE_LABELS``)."""
    return unet.config.class_embed_type == POSE_LABELS["class_embed_type"]


class CameraProjection(ModelMixin, ConfigMixin):
    """Zero123's ``cc_projection``: ``[image embedding, pose] (772) -> token (768)``."""

    @register_to_config
    def __init__(self, in_channel: int = 772, out_channel: int = 768):
        super().__init__()
        self.projection = nn.Linear(in_channel, out_channel)

    def forward(self, x: Tensor) -> Tensor:
        return self.projection(x)


def _image_statistics(source: str, local_only: bool) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The feature extractor's image mean and std, or CLIP's defaults."""
    folder = Path(source) / "feature_extractor" / "preprocessor_config.json"
    if local_only and folder.is_file():
        config = json.loads(folder.read_text())
        return tuple(config.get("image_mean", CLIP_MEAN)), tuple(config.get("image_std", CLIP_STD))
    return CLIP_MEAN, CLIP_STD


class ViewConditionedPrior(LatentDiffusionPrior):
    """A frozen Zero123-style prior; implements ``dream3d.interfaces.Prior``."""

    def __init__(self, unet, vae, image_encoder, projection: CameraProjection, scheduler,
                 image_mean: tuple[float, ...] = CLIP_MEAN, image_std: tuple[float, ...] = CLIP_STD,
                 name: str = "view-conditioned prior"):
        super().__init__(unet, vae, scheduler, name, frozen=(image_encoder, projection))
        self.image_encoder = image_encoder
        self.projection = projection
        self.register_buffer("image_mean", torch.tensor(image_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("image_std", torch.tensor(image_std).view(1, 3, 1, 1), persistent=False)
        if int(unet.config.in_channels) != 2 * int(vae.config.latent_channels):
            raise PriorLoadError(
                f"'{name}' is not a view-conditioned prior: its UNet takes {unet.config.in_channels} channels, "
                f"not the noisy latent plus the reference latent ({2 * int(vae.config.latent_channels)})."
            )

    @classmethod
    def from_pretrained(cls, name_or_path: str, device: str | torch.device = "cpu",
                        dtype: torch.dtype | None = None) -> ViewConditionedPrior:
        """Load a folder or hub id in the diffusers Zero123 layout (public diffusers/transformers API)."""
        from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
        from transformers import CLIPVisionModelWithProjection

        plan = LoadPlan.of(name_or_path, device, dtype)
        device, dtype, source, kwargs = plan.device, plan.dtype, plan.source, plan.kwargs
        try:
            unet = UNet2DConditionModel.from_pretrained(source, subfolder="unet", torch_dtype=dtype, **kwargs)
            vae = AutoencoderKL.from_pretrained(source, subfolder="vae", torch_dtype=dtype, **kwargs)
            image_encoder = CLIPVisionModelWithProjection.from_pretrained(source, subfolder="image_encoder",
                                                                          torch_dtype=dtype, **kwargs)
            projection = CameraProjection.from_pretrained(source, subfolder="cc_projection", torch_dtype=dtype, **kwargs)
            scheduler = DDPMScheduler.from_pretrained(source, subfolder="scheduler", **kwargs)
        except (OSError, ValueError) as error:
            raise PriorLoadError(
                f"Could not load the view-conditioned prior '{name_or_path}' from {source}: {error}\n"
                f"It needs the Zero123 layout: unet/, vae/, image_encoder/, cc_projection/, scheduler/. "
                f"The bundled text prior is '{BUNDLED_PRIOR}'."
            ) from None
        mean, std = _image_statistics(source, kwargs["local_files_only"])
        prior = cls(unet, vae, image_encoder, projection, scheduler, mean, std, name=str(name_or_path))
        log.info("Loaded view-conditioned prior %s on %s (%s)", name_or_path, device, str(dtype).replace("torch.", ""))
        return prior.to(device)

    @torch.no_grad()
    def embed_image(self, images: Tensor) -> Tensor:
        """CLIP image embeddings ``[B,D]`` of images ``[B,3,H,W]`` in [0,1] (resized, normalised)."""
        size = int(self.image_encoder.config.image_size)
        x = F.interpolate(images.float(), (size, size), mode="bilinear", align_corners=False, antialias=True)
        x = (x - self.image_mean) / self.image_std
        return self.image_encoder(x.to(self.dtype)).image_embeds

    @torch.no_grad()
    def reference_latents(self, images: Tensor) -> Tensor:
        """The reference's VAE latents ``[B,C,h,w]``, unscaled, as Zero123 concatenates them."""
        size = self.image_size
        x = F.interpolate(images.float(), (size, size), mode="bilinear", align_corners=False, antialias=True)
        return self.vae.encode(x.to(self.dtype) * 2.0 - 1.0).latent_dist.mode()

    def project(self, image_embedding: Tensor, pose: Tensor) -> Tensor:
        """The cross-attention token ``[B,1,D]`` from embeddings ``[B,D]`` and relative poses ``[B,4]``."""
        joined = torch.cat([image_embedding.to(self.dtype), pose.to(self.dtype)], dim=-1)
        return self.projection(joined)[:, None, :]

    @property
    def takes_pose_labels(self) -> bool:
        """Whether the UNet also reads the relative pose ``[B,4]`` through its timestep embedding
        (``class_embed_type: projection``), so that every block sees it; Zero123's does not."""
        return reads_pose_labels(self.unet)

    def predict_noise(self, noisy_latents: Tensor, timesteps: Tensor, conditioning: Conditioning) -> Tensor:
        """``eps_hat(z_t, t; reference, pose)`` in fp32: ``concat`` is the reference latent,
        ``context`` the projected token, ``class_labels`` the pose where the UNet takes it."""
        if conditioning.concat is None:
            raise ValueError("A view-conditioned prior needs the reference latents (Conditioning.concat).")
        if self.takes_pose_labels and conditioning.class_labels is None:
            raise ValueError("This view-conditioned prior also needs the relative pose as class_labels.")
        sample = torch.cat([noisy_latents, conditioning.concat.to(noisy_latents.dtype)], dim=1)
        labels = conditioning.class_labels.to(self.dtype) if self.takes_pose_labels else None
        eps = self.unet_forward(sample.to(self.dtype), timesteps, conditioning.context.to(self.dtype), labels)
        return eps.float()
