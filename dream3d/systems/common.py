"""Pieces every method's recipe shares: device choice, prior + prompts, timers."""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn

from dream3d.guidance.sds import GuidanceConfig
from dream3d.prior.config import PriorConfig
from dream3d.prior.model import Prior
from dream3d.prior.prompts import PromptConfig, PromptEmbeddings, build_prompt_embeddings

log = logging.getLogger(__name__)


@dataclass
class DistillationConfig:
    """What every score-distillation method is told: the prompt, the prior and the guidance."""

    prompt: str = "a red cube"
    """What to make."""
    negative_prompt: str = ""
    """Unconditional branch of classifier-free guidance."""
    prior: PriorConfig = field(default_factory=PriorConfig)
    """The frozen diffusion prior."""
    prompt_processing: PromptConfig = field(default_factory=PromptConfig)
    """View-dependent prompts and the embedding cache."""
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    """Score distillation: ``type: sds`` or ``type: vsd``."""


def guidance_modules(guidance) -> dict[str, nn.Module]:
    """Trainable state of a guidance (VSD's LoRA and camera embedding), for checkpoints."""
    return {f"guidance.{k}": m for k, m in getattr(guidance, "trainable_modules", dict)().items()}


def guidance_optimizers(guidance) -> dict[str, torch.optim.Optimizer]:
    """A guidance's own optimizers (VSD's LoRA), stepped by the trainer."""
    return {f"guidance.{k}": o for k, o in getattr(guidance, "optimizers", dict)().items()}


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device=cuda was requested but no CUDA device is available; use --device cpu or auto.")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def load_prior_and_prompts(
    prior_config: PriorConfig, prompt_config: PromptConfig, prompt: str, negative_prompt: str, device: torch.device
) -> tuple[Prior, PromptEmbeddings]:
    """Load the frozen prior, check and embed the prompt, then free the text encoder."""
    dtype = torch.float16 if device.type == "cuda" and prior_config.half_precision else torch.float32
    prior = Prior.from_pretrained(prior_config.pretrained, device=device, dtype=dtype)
    prompts = build_prompt_embeddings(prior, prompt, negative_prompt, prompt_config)
    return prior, prompts


class SectionTimer:
    """Wall-clock time per named section, synchronising CUDA so timings are honest."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    @contextlib.contextmanager
    def section(self, name: str) -> Iterator[None]:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        try:
            yield
        finally:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - start
