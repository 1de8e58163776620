"""Which prior a run distils from."""
from __future__ import annotations

from dataclasses import dataclass

from dream3d.prior.model import BUNDLED_PRIOR


@dataclass
class PriorConfig:
    """The frozen diffusion prior."""

    pretrained: str = BUNDLED_PRIOR
    """A local diffusers folder or a hub id (e.g. stabilityai/stable-diffusion-2-1-base)."""
    half_precision: bool = True
    """Run the prior in fp16 on CUDA (always fp32 on CPU)."""
