"""DreamFusion's shading modes (Poole et al. 2022, sec. 3.1): albedo, lambertian with a
random light, and textureless (lambertian with white albedo).

The light direction is drawn near the direction fixed in camera space that the bundled
prior's training images use (``dream3d.render.light``), with a random jitter per step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from dream3d.cameras import Cameras
from dream3d.interfaces.representation import RenderMode
from dream3d.render.light import AMBIENT, DIFFUSE, LIGHT_DIRECTION_CAMERA, camera_light

SHADING_MODES = get_args(RenderMode)


@dataclass
class ShadingConfig:
    """How rendered points are lit."""

    probabilities: tuple[float, float, float] = (0.3, 0.5, 0.2)
    """Chance of (albedo, lambertian, textureless) at each training step."""
    ambient: float = AMBIENT
    """Ambient term of lambertian shading."""
    diffuse: float = DIFFUSE
    """Diffuse term: colour = albedo * (ambient + diffuse * max(0, n.l))."""
    light_direction_camera: tuple[float, float, float] = LIGHT_DIRECTION_CAMERA
    """Direction towards the light in camera space (x right, y down, z forward)."""
    light_jitter_deg: float = 30.0
    """Random angular jitter of the light around that direction at training time."""


def sample_mode(config: ShadingConfig) -> str:
    """Draw a shading mode with the configured probabilities (global RNG)."""
    probs = torch.tensor(config.probabilities, dtype=torch.float32)
    return SHADING_MODES[int(torch.multinomial(probs / probs.sum(), 1))]


def light_directions(cameras: Cameras, config: ShadingConfig, jitter: bool) -> Tensor:
    """Unit world-space directions towards the light, ``[B,3]``."""
    base = camera_light(config.light_direction_camera).to(cameras.device).expand(len(cameras), 3)
    if jitter and config.light_jitter_deg > 0:
        noise = torch.randn(len(cameras), 3).to(cameras.device) * math.radians(config.light_jitter_deg)
        base = F.normalize(base + noise - (noise * base).sum(-1, keepdim=True) * base, dim=-1)
    return torch.einsum("bij,bj->bi", cameras.c2w[:, :3, :3], base)


def shade(albedo: Tensor, normals: Tensor | None, light: Tensor | None, mode: str, config: ShadingConfig) -> Tensor:
    """Colours ``[...,3]`` from albedo ``[...,3]``, normals ``[...,3]`` and light ``[...,3]``."""
    if mode == "albedo":
        return albedo
    if mode not in SHADING_MODES:
        raise ValueError(f"shading mode must be one of {SHADING_MODES}, got {mode!r}")
    lambert = (normals * light).sum(-1, keepdim=True).clamp_min(0.0)
    intensity = config.ambient + config.diffuse * lambert
    base = torch.ones_like(albedo) if mode == "textureless" else albedo
    return base * intensity
