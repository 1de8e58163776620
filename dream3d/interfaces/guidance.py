"""``Guidance``: a loss on renders whose gradient is a score-distillation gradient.

``loss(images, cameras, condition, step)`` returns the loss and scalar statistics for the
progress bar. SDS (DreamFusion), VSD (ProlificDreamer) and SDEdit targets (DreamGaussian's
refinement) implement it, and share one module for noising, classifier-free guidance and
weighting (``dream3d.guidance.diffusion``). A guidance with trainable state (VSD's LoRA and
camera embedding) exposes it through ``state_modules`` and ``optimizers``; the recipe
engine checkpoints and steps them with the scene's.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from dream3d.cameras import Cameras
from dream3d.interfaces.condition import Condition


@runtime_checkable
class Guidance(Protocol):
    """Scores renders ``images [B,3,H,W]`` in [0,1] taken from ``cameras``."""

    def loss(self, images: Tensor, cameras: Cameras, condition: Condition, step: int) -> tuple[Tensor, dict[str, float]]:
        ...

    def state_modules(self) -> dict[str, nn.Module]:
        """Modules with trainable or running state (empty for a stateless guidance)."""
        ...

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The guidance's own optimizers, stepped after each backward."""
        ...
