"""Backgrounds behind the scene: a solid colour, or a colour learned from the view direction."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn


@dataclass
class BackgroundConfig:
    """What the renderer composites the scene over."""

    type: Literal["solid", "learned"] = "solid"
    """``solid`` or ``learned`` (a small MLP of the ray direction, as in DreamFusion)."""
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """The solid colour (and the learned background's initial colour)."""
    hidden_dim: int = 16
    """Width of the learned background's MLP."""


class Background(nn.Module):
    """Colour ``[...,3]`` for ray directions ``[...,3]``."""

    def __init__(self, config: BackgroundConfig):
        super().__init__()
        if config.type not in ("solid", "learned"):
            raise ValueError(f"background.type must be 'solid' or 'learned', got {config.type!r}")
        self.config = config
        self.register_buffer("color", torch.tensor(config.color, dtype=torch.float32), persistent=False)
        self.mlp = None
        if config.type == "learned":
            self.mlp = nn.Sequential(nn.Linear(3, config.hidden_dim), nn.ReLU(inplace=True), nn.Linear(config.hidden_dim, 3))
            nn.init.zeros_(self.mlp[-1].weight)
            with torch.no_grad():
                self.mlp[-1].bias.copy_(torch.logit(self.color.clamp(0.01, 0.99)))

    def forward(self, directions: Tensor) -> Tensor:
        if self.mlp is None:
            return self.color.expand(*directions.shape[:-1], 3)
        return torch.sigmoid(self.mlp(directions))
