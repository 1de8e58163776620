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
    """CFG scale of the LoRA branch over the camera condition (1 = camera-conditioned only;
    otherwise ``eps(no camera) + s * (eps(camera) - eps(no camera))``)."""
    lora_target_modules: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0")
    """Names of the UNet's linear layers that receive a LoRA adapter (peft ``target_modules``)."""
    camera_hidden_dim: int = 0
    """Width of the camera-embedding MLP (0 = the UNet's time-embedding width)."""
    lora_timestep_range: tuple[float, float] = (0.0, 1.0)
    """Timesteps of the LoRA's denoising loss, as fractions of the prior's training timesteps."""
    lora_adam_betas: tuple[float, float] = (0.9, 0.999)
    """Adam betas of the LoRA optimizer."""
