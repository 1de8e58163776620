"""The reference-view loss of image-to-3D (DreamGaussian, Tang et al. 2023, sec. 3.1;
Magic123 and Zero123's 3D reconstruction use the same two terms).

At the reference camera the render must reproduce the input:

    L_ref = lambda_rgb * mean (I - I_ref)^2  +  lambda_mask * mean (alpha - M_ref)^2

with ``I`` the render composited on white, ``I_ref`` the input on white, ``alpha`` the
render's opacity and ``M_ref`` the input's mask.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from dream3d.cameras import Cameras
from dream3d.image_input import ImageInputConfig, load_image_input


@dataclass
class ReferenceLossConfig:
    """Weights of the two terms (DreamGaussian's defaults)."""

    rgb_weight: float = 10000.0
    mask_weight: float = 1000.0


@dataclass
class ReferenceTarget:
    """What a stage's render from the reference camera must reproduce."""

    rgb: Tensor  # [1,3,S,S] on white
    mask: Tensor  # [1,1,S,S]
    camera: Cameras  # one camera
    config: ReferenceLossConfig = field(default_factory=ReferenceLossConfig)


def reference_target(image: ImageInputConfig, config: ReferenceLossConfig, fovy: float) -> ReferenceTarget:
    """Read and centre the input image; its camera looks from ``image.elevation``, azimuth 0."""
    loaded = load_image_input(image)
    camera = Cameras.from_spherical(torch.tensor([image.elevation]), torch.tensor([0.0]), torch.tensor([image.distance]),
                                    fovy, image.size, image.size)
    return ReferenceTarget(loaded.rgb[None], loaded.mask[None], camera, config)


def reference_loss(rgb: Tensor, alpha: Tensor, reference_rgb: Tensor, reference_mask: Tensor,
                   config: ReferenceLossConfig) -> tuple[Tensor, dict[str, float]]:
    """``L_ref`` for renders ``rgb [B,3,H,W]``, ``alpha [B,1,H,W]`` against the reference
    ``[1,3,H,W]`` and ``[1,1,H,W]`` (resized to the render); returns the loss and its terms."""
    size = rgb.shape[-2:]
    target_rgb = F.interpolate(reference_rgb, size, mode="bilinear", align_corners=False, antialias=True)
    target_mask = F.interpolate(reference_mask, size, mode="bilinear", align_corners=False, antialias=True)
    rgb_term = F.mse_loss(rgb, target_rgb.expand_as(rgb))
    mask_term = F.mse_loss(alpha, target_mask.expand_as(alpha))
    loss = config.rgb_weight * rgb_term + config.mask_weight * mask_term
    return loss, {"ref_rgb": float(rgb_term.detach()), "ref_mask": float(mask_term.detach())}
