"""Perp-Neg prompt processing for a single-view prior (Armandpour et al. 2023, arXiv:2304.04968).

For each camera the positive prompt interpolates the view prompts between the two nearest
canonical views, and the other views' prompts become negatives whose perpendicular part is
removed (the formula: ``dream3d.guidance.perp_neg``). With ``|a|`` the camera's azimuth from
the front (degrees) and ``f(r) = a_f * exp(-b_f * r) + c_f`` the paper's shifted exponential decays,
as threestudio implements them (``prompt_processors/base.py``, ``get_text_embeddings_perp_neg``):

- front half, ``|a| < 90``: ``r = 1 - |a|/90`` (1 = front, 0 = side);
  positive ``r·e_front + (1-r)·e_side``; negatives ``e_front`` with ``w = f_fs(r)`` and
  ``e_side`` with ``w = f_sf(1 - r)``;
- back half: ``r = 2 - |a|/90`` (1 = side, 0 = back);
  positive ``r·e_side + (1-r)·e_back``; negatives ``e_side`` with ``w = f_sb(r)`` and
  ``e_front`` with ``w = f_fsb(r)``;
- overhead cameras (elevation > 60°): positive ``e_overhead``, no negatives (``w = 0``).

The defaults make each negative vanish where it is the view itself (``f_fs(1) = f_sb(1) = 0``):
a front view pushes "side" away (w = 1.57), a back view pushes "front" (1.97) and "side" (0.39).
The negatives' contexts and weights travel in the conditional ``Conditioning.extras``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from dream3d.cameras import Cameras
from dream3d.guidance.perp_neg import CONTEXT_KEY, WEIGHTS_KEY
from dream3d.interfaces.condition import Conditioning
from dream3d.prior.model import TextToImagePrior
from dream3d.prior.prompts import PromptConfig, TextCondition, build_text_condition

Decay = tuple[float, float, float]


@dataclass
class PerpNegConfig:
    """Perp-Neg's negative view prompts; each weight is ``a * exp(-b * r) + c`` for ``(a, b, c)``."""

    enabled: bool = False
    """Use Perp-Neg (needs ``view_dependent: true`` and a single-view prior)."""
    front_side: Decay = (4.0, 0.5, -2.426)
    """``f_fs``: weight of the "front" negative in the front half, at ``r`` (1 = front)."""
    side_front: Decay = (4.0, 0.5, -2.426)
    """``f_sf``: weight of the "side" negative in the front half, at ``1 - r``."""
    side_back: Decay = (1.0, 0.5, -0.606)
    """``f_sb``: weight of the "side" negative in the back half, at ``r`` (1 = side, 0 = back)."""
    front_back: Decay = (1.0, 0.5, 0.967)
    """``f_fsb``: weight of the "front" negative in the back half, at ``r``."""


@dataclass
class PromptProcessingConfig(PromptConfig):
    """How the text condition is built: view-dependent prompts, the cache, and Perp-Neg."""

    perp_neg: PerpNegConfig = field(default_factory=PerpNegConfig)
    """Perp-Neg negative view prompts (Armandpour et al. 2023)."""


def decay(params: Decay, r: Tensor) -> Tensor:
    """``a * exp(-b * r) + c``."""
    a, b, c = params
    return a * torch.exp(-b * r) + c


def interpolation(azimuth: Tensor) -> tuple[Tensor, Tensor]:
    """``(front_half [B] bool, r [B])`` for azimuths in degrees (see module docstring)."""
    off_front = ((azimuth.float() + 180.0) % 360.0 - 180.0).abs()
    front_half = off_front < 90.0
    r = torch.where(front_half, 1.0 - off_front / 90.0, 2.0 - off_front / 90.0)
    return front_half, r


def perp_neg_weights(azimuth: Tensor, overhead: Tensor, config: PerpNegConfig) -> Tensor:
    """Weights ``[B,2]`` of the two negatives per camera (zero for overhead cameras)."""
    front_half, r = interpolation(azimuth)
    first = torch.where(front_half, decay(config.front_side, r), decay(config.side_back, r))
    second = torch.where(front_half, decay(config.side_front, 1.0 - r), decay(config.front_back, r))
    weights = torch.stack([first, second], dim=1)
    return torch.where(overhead[:, None], torch.zeros_like(weights), weights)


@dataclass
class PerpNegCondition:
    """View prompts interpolated per camera, with the other views as Perp-Neg negatives."""

    text: TextCondition
    config: PerpNegConfig

    def for_cameras(self, cameras: Cameras) -> tuple[Conditioning, Conditioning]:
        """``(cond, uncond)``: ``cond.context [B,L,D]`` and, in ``extras``, negatives ``[B,2,L,D]``
        and their weights ``[B,2]``; ``uncond.context`` is the negative prompt."""
        views, negative = self.text.by_view, self.text.negative
        azimuth = cameras.azimuth.detach().cpu()
        overhead = torch.tensor([label == "overhead" for label in cameras.view_labels()])
        front_half, r = interpolation(azimuth)
        weights = perp_neg_weights(azimuth, overhead, self.config)
        device, dtype = negative.device, negative.dtype
        r = r.to(device, dtype).view(-1, 1, 1)
        front_half, overhead = front_half.to(device).view(-1, 1, 1), overhead.to(device).view(-1, 1, 1)
        front, side, back = views["front"], views["side"], views["back"]
        positive = torch.where(front_half, r * front + (1 - r) * side, r * side + (1 - r) * back)
        positive = torch.where(overhead, views["overhead"], positive)  # [B,L,D]
        first = torch.where(overhead, negative, torch.where(front_half, front, side))
        second = torch.where(overhead, negative, torch.where(front_half, side, front))
        extras = {CONTEXT_KEY: torch.stack([first, second], dim=1), WEIGHTS_KEY: weights.to(device)}
        uncond = negative.unsqueeze(0).expand_as(positive)
        return Conditioning(positive, extras=extras), Conditioning(uncond)


def build_prompt_condition(prior: TextToImagePrior, prompt: str, negative_prompt: str = "",
                           config: PromptConfig | None = None) -> TextCondition | PerpNegCondition:
    """The text condition (``build_text_condition``), as Perp-Neg's when ``config.perp_neg.enabled``."""
    text = build_text_condition(prior, prompt, negative_prompt, config)
    perp_neg = getattr(config, "perp_neg", None)
    if perp_neg is None or not perp_neg.enabled:
        return text
    if not config.view_dependent:
        raise ValueError("Perp-Neg needs view prompts: set system.prompt_processing.view_dependent=true.")
    return PerpNegCondition(text, perp_neg)

