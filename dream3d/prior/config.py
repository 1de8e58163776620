"""Which prior a run distils from."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dream3d.prior.source import BUNDLED_PRIOR


@dataclass
class PriorConfig:
    """The frozen diffusion prior."""

    type: Literal["text", "multiview", "image"] = "text"
    """The kind of prior (``dream3d.prior.factory.PRIORS``): ``text`` is a text-to-image latent
    diffusion model in the Stable Diffusion layout; ``multiview`` denoises the views of one
    object together (MVDream; ``dream3d.prior.multiview``); ``image`` draws new views of the
    object in an input image (Zero123; ``dream3d.prior.view_conditioned``)."""
    pretrained: str = BUNDLED_PRIOR
    """A local diffusers folder or a hub id (e.g. stabilityai/stable-diffusion-2-1-base)."""
    half_precision: bool = True
    """Run the prior in fp16 on CUDA (always fp32 on CPU)."""
    trace_unet: bool = True
    """On a CPU, replay the frozen UNet's forward from a TorchScript trace (one per input shape):
    the same result, bit for bit, about 0.8x the time (``dream3d.prior.traced_unet``)."""
