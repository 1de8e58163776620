"""The text condition: view-dependent prompts, a negative prompt and the embedding cache.

View-dependent prompting is DreamFusion's (Poole et al. 2022, sec. 3.2): the view label
of each camera appends ", front view", ", side view", ", back view" or ", overhead view".
``TextCondition`` implements ``dream3d.interfaces.Condition``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from dream3d.cameras import VIEW_SUFFIXES, Cameras
from dream3d.interfaces.condition import Conditioning
from dream3d.prior.catalog import normalise_prompt
from dream3d.prior.model import TextToImagePrior
from dream3d.prior.text_cache import TextEmbeddingCache, model_key


@dataclass
class PromptConfig:
    """How the text condition is built from the prompt."""

    view_dependent: bool = True
    """Append the camera's view label (front/side/back/overhead) to the prompt."""
    use_cache: bool = True
    """Cache text embeddings on disk, keyed by model and prompt."""


@dataclass
class TextCondition:
    """Conditional embeddings per view label, and the negative (unconditional) one."""

    by_view: dict[str, Tensor]  # label -> [L,D]
    negative: Tensor  # [L,D]

    def for_cameras(self, cameras: Cameras) -> tuple[Conditioning, Conditioning]:
        """``(cond, uncond)`` with ``context [B,L,D]`` each, for a batch of cameras."""
        cond = torch.stack([self.by_view[label] for label in cameras.view_labels()])
        uncond = self.negative.unsqueeze(0).expand_as(cond)
        return Conditioning(cond), Conditioning(uncond)

    def to(self, device: torch.device | str) -> "TextCondition":
        return TextCondition({k: v.to(device) for k, v in self.by_view.items()}, self.negative.to(device))


def view_prompts(prompt: str, view_dependent: bool) -> dict[str, str]:
    """The text used for each view label."""
    return {label: prompt + suffix if view_dependent else prompt for label, suffix in VIEW_SUFFIXES.items()}


def build_text_condition(
    prior: TextToImagePrior,
    prompt: str,
    negative_prompt: str = "",
    config: PromptConfig | None = None,
    cache_dir: Path | None = None,
) -> TextCondition:
    """Embed every text the run needs, once, then free the text encoder.

    Raises ``OutOfVocabularyError`` for words a closed-vocabulary prior does not know. For
    such a prior (a bundled one), the prompt is first put in its captions' form: lower
    case, with the right article ("A Orange Cube" -> "an orange cube").
    """
    config = config or PromptConfig()
    prior.check_prompt(prompt)
    prior.check_prompt(negative_prompt)
    if prior.vocabulary is not None:  # a bundled prior: its captions' case and articles
        prompt, negative_prompt = normalise_prompt(prompt), normalise_prompt(negative_prompt)
    texts = view_prompts(prompt, config.view_dependent)
    wanted = sorted(set(texts.values()) | {negative_prompt})
    cache = TextEmbeddingCache(model_key(prior.name), cache_dir) if config.use_cache else None
    found: dict[str, Tensor] = {}
    for text in wanted:
        cached = cache.get(text) if cache is not None else None
        if cached is not None:
            found[text] = cached
    missing = [t for t in wanted if t not in found]
    if missing:
        embeddings = prior.encode_text(missing).cpu()
        for text, embedding in zip(missing, embeddings):
            found[text] = embedding
            if cache is not None:
                cache.put(text, embedding)
    if prior.text_encoder is not None:
        prior.free_text_encoder()
    device, dtype = prior.device, prior.dtype
    return TextCondition(
        by_view={label: found[text].to(device, dtype) for label, text in texts.items()},
        negative=found[negative_prompt].to(device, dtype),
    )
