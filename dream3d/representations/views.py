"""Evaluation renders of any representation: previews, turntables, back-projection views."""
from __future__ import annotations

import torch

from dream3d.cameras import Cameras
from dream3d.interfaces import RenderMode, Representation
from dream3d.render.types import Render


@torch.no_grad()
def render_views(representation: Representation, cameras: Cameras, mode: RenderMode = "albedo") -> Render:
    """Renders in evaluation mode (no jitter, white background), one camera at a time."""
    was_training = representation.training
    representation.eval()
    cameras = cameras.to(representation.device)
    try:
        return Render.cat([representation.render(cameras[i : i + 1], mode) for i in range(len(cameras))])
    finally:
        representation.train(was_training)
