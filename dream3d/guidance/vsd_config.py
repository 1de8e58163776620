"""Settings of variational score distillation (ProlificDreamer, Wang et al. 2023)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class VSDConfig:
    """The LoRA score model of VSD; used when ``guidance.type`` is ``vsd``."""

    lora_rank: int = 4
    """Rank of the LoRA adapter on the prior's UNet attention projections."""
    lora_alpha: float = 4.0
    """LoRA scaling numerator (scale = alpha / rank)."""
    lora_lr: float = 1e-3
    """Learning rate of the LoRA and camera-embedding parameters."""
    camera_condition_dropout: float = 0.1
    """Fraction of LoRA-training steps whose camera embedding is zeroed."""
    lora_guidance_scale: float = 1.0
    """CFG scale of the LoRA branch (1 = conditional only)."""
