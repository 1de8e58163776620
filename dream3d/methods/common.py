"""What every score-distillation method is told, and the pieces of recipes they share."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from dream3d.config import ConfigError
from dream3d.guidance.factory import build_guidance
from dream3d.guidance.reference import ReferenceLossConfig, ReferenceTarget, reference_target
from dream3d.image_input import ImageInputConfig
from dream3d.guidance.sds import GuidanceConfig
from dream3d.interfaces import Guidance, Prior
from dream3d.prior.config import PriorConfig
from dream3d.prior.perp_neg_condition import PromptProcessingConfig


@dataclass
class DistillationConfig:
    """What every score-distillation method is told: the prompt, the prior and the guidance."""

    prompt: str = "a red cube"
    """What to make."""
    negative_prompt: str = ""
    """Unconditional branch of classifier-free guidance."""
    prior: PriorConfig = field(default_factory=PriorConfig)
    """The frozen diffusion prior."""
    prompt_processing: PromptProcessingConfig = field(default_factory=PromptProcessingConfig)
    """View-dependent prompts, the embedding cache and Perp-Neg."""
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    """Score distillation: ``type: sds``, ``vsd`` or ``multiview-sds``."""
    image: ImageInputConfig = field(default_factory=ImageInputConfig)
    """Image-to-3D (``--image``): the input image, with ``prior.type: image``."""
    reference_loss: ReferenceLossConfig = field(default_factory=ReferenceLossConfig)
    """Image-to-3D: the weights of the reference view's colour and mask terms."""


def distillation(config: GuidanceConfig, schedule_steps: int) -> Callable[[Prior], Guidance]:
    """The builder of a score-distillation guidance whose timestep schedule spans ``schedule_steps``."""
    return lambda prior: build_guidance(prior, config, schedule_steps)


def recipe_inputs(system: DistillationConfig) -> dict:
    """The ``Recipe`` fields every distillation method fills the same way."""
    return {"prior": system.prior, "prompt": system.prompt, "negative_prompt": system.negative_prompt,
            "prompt_processing": system.prompt_processing, "image": system.image if system.image.path else None}


def image_reference(system: DistillationConfig, fovy: float) -> ReferenceTarget | None:
    """Image to 3D: the reference view a stage must reproduce (None for text to 3D)."""
    return reference_target(system.image, system.reference_loss, fovy) if system.image.path else None


def require(condition: bool, message: str) -> None:
    """Raise ``ConfigError(message)`` unless ``condition``."""
    if not condition:
        raise ConfigError(message)
