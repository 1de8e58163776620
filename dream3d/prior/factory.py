"""Build a prior and its condition from config: the one place that picks classes by name.

``PRIORS`` maps ``prior.type`` to a loader ``(pretrained, device, dtype) -> Prior``, and
``CONDITIONS`` maps it to the builder of the condition that prior takes. A plugin adds a
kind of prior by adding one entry to each (see ``docs/architecture.md``).
"""
from __future__ import annotations

from typing import Callable

import torch

from dream3d.gc_pause import loading
from dream3d.image_input import ImageInputConfig, load_image_input
from dream3d.interfaces import Condition, Prior
from dream3d.prior.config import PriorConfig
from dream3d.prior.image_condition import ImageCondition, ReferenceView
from dream3d.prior.latent import LatentDiffusionPrior
from dream3d.prior.model import TextToImagePrior
from dream3d.prior.multiview import MultiViewPrior
from dream3d.prior.multiview_condition import build_multiview_condition
from dream3d.prior.perp_neg_condition import build_prompt_condition
from dream3d.prior.prompts import PromptConfig
from dream3d.prior.view_conditioned import ViewConditionedPrior


def build_image_condition(prior: ViewConditionedPrior, image: ImageInputConfig) -> ImageCondition:
    """The input image, centred on white, embedded once; the reference camera is at azimuth 0."""
    return ImageCondition.from_image(prior, load_image_input(image).rgb[None],
                                     ReferenceView(image.elevation, 0.0, image.distance))


PRIORS: dict[str, Callable[..., Prior]] = {"text": TextToImagePrior.from_pretrained,
                                          "multiview": MultiViewPrior.from_pretrained,
                                          "image": ViewConditionedPrior.from_pretrained}
CONDITIONS: dict[str, Callable[..., Condition]] = {
    "text": lambda prior, prompt, negative, prompts, image: build_prompt_condition(prior, prompt, negative, prompts),
    "multiview": lambda prior, prompt, negative, prompts, image: build_multiview_condition(prior, prompt, negative, prompts),
    "image": lambda prior, prompt, negative, prompts, image: build_image_condition(prior, image),
}
"""Condition builders ``(prior, prompt, negative_prompt, prompt_config, image_config) -> Condition``."""


def prior_dtype(config: PriorConfig, device: torch.device) -> torch.dtype:
    """fp16 on CUDA when asked for, else fp32 (fp16 LayerNorm does not run on a CPU)."""
    return torch.float16 if device.type == "cuda" and config.half_precision else torch.float32


def build_prior(config: PriorConfig, device: torch.device) -> Prior:
    """Load the frozen prior named by ``config``."""
    with loading():  # the prior's classes import here, and its weights load
        prior = PRIORS[config.type](config.pretrained, device=device, dtype=prior_dtype(config, device))
    if isinstance(prior, LatentDiffusionPrior):
        prior.traced_unet.enabled = config.trace_unet
    return prior


def build_condition(prior: Prior, config: PriorConfig, prompt: str, negative_prompt: str,
                    prompt_config: PromptConfig, image: ImageInputConfig | None = None) -> Condition:
    """The condition of ``prior``: the prompt's (text embeddings are made once, then cached),
    or the input image's for a view-conditioned prior."""
    return CONDITIONS[config.type](prior, prompt, negative_prompt, prompt_config, image)
