"""The one light of dream3d: its direction in camera space and the Lambertian terms.

The bundled prior's training images (``docs/bundled-prior.md``) are lit
from the upper left, in front of the object, with the light fixed in camera space, so
shading looks the same from every view. Training renders (``dream3d.render.shading``), the
dataset (``dream3d.prior.shapes_data``) and mesh previews (``dream3d.export.preview``) all
use this direction, so that what the scene is shown and what the prior learned agree.
"""
from __future__ import annotations

import torch
from torch import Tensor

LIGHT_DIRECTION_CAMERA: tuple[float, float, float] = (-0.45, -0.55, -0.70)
"""Direction towards the light in OpenCV camera space (x right, y down, z forward): left,
up and towards the camera. Normalised on use."""
AMBIENT = 0.35
"""Ambient term: colour = albedo * (AMBIENT + DIFFUSE * max(0, n.l))."""
DIFFUSE = 0.65
"""Diffuse term."""


def camera_light(direction: tuple[float, float, float] = LIGHT_DIRECTION_CAMERA) -> Tensor:
    """The unit camera-space light direction ``[3]``."""
    light = torch.tensor(direction, dtype=torch.float32)
    return light / light.norm()


def world_light(c2w: Tensor, direction: tuple[float, float, float] = LIGHT_DIRECTION_CAMERA) -> Tensor:
    """World-space unit directions towards the light ``[B,3]`` for cameras ``c2w [B,4,4]``."""
    return c2w[:, :3, :3] @ camera_light(direction).to(c2w.device, c2w.dtype)
