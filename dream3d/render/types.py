"""What every renderer returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor


@dataclass
class Render:
    """Images of a scene seen from a batch of cameras."""

    rgb: Tensor  # [B,H,W,3] in [0,1], composited over the background
    alpha: Tensor  # [B,H,W,1] accumulated opacity
    depth: Tensor | None = None  # [B,H,W,1] expected depth along the ray (camera z for rasterisers)
    normal: Tensor | None = None  # [B,H,W,3] world-space normals, alpha-weighted
    extras: dict[str, Any] = field(default_factory=dict)
    """Renderer-specific outputs, e.g. regulariser terms or densification info."""

    def images(self) -> Tensor:
        """``rgb`` as ``[B,3,H,W]``, the layout the guidance takes."""
        return self.rgb.permute(0, 3, 1, 2)

    @staticmethod
    def cat(renders: list["Render"]) -> "Render":
        """Renders of separate camera batches joined along the batch (extras are dropped)."""
        def join(name: str):
            values = [getattr(r, name) for r in renders]
            return None if any(v is None for v in values) else torch.cat(values)

        return Render(rgb=join("rgb"), alpha=join("alpha"), depth=join("depth"), normal=join("normal"))
