"""Preview grids and turntable videos of a system's renders."""
from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import torch

from dream3d import optional
from dream3d.atomic import atomic_path
from dream3d.cameras import orbit_cameras
from dream3d.render.depth_shading import shade


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """``[...,C]`` floats in [0,1] -> uint8 numpy."""
    return (images.detach().float().clamp(0, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)


def preview_grid(system, n_views: int, resolution: int, elevation: float = 15.0) -> np.ndarray:
    """Two rows: the albedo render and its opacity, from ``n_views`` azimuths. ``[2H, nW, 3]``."""
    cameras = orbit_cameras(n_views, elevation=elevation, height=resolution, width=resolution)
    render = system.render_views(cameras)
    rgb = torch.cat(list(render.rgb), dim=1)  # [H, nW, 3]
    alpha = torch.cat(list(render.alpha.expand(-1, -1, -1, 3)), dim=1)
    return to_uint8(torch.cat([rgb, alpha], dim=0))


def write_image(path: Path, image: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        imageio.imwrite(tmp, image)


def write_turntable(system, path: Path, frames: int, resolution: int, fps: int, elevation: float,
                    mode: str = "albedo") -> bool:
    """An orbit of the scene as an H.264 ``.mp4`` (imageio-ffmpeg); False, with a warning, without ffmpeg.

    ``mode``: flat ``albedo``, or ``lambertian`` / ``textureless`` lit with normals from the
    depth map (``dream3d.render.depth_shading``).
    """
    if not optional.video_encoder_available():
        optional.warn_once("video:ffmpeg", "imageio-ffmpeg is not installed: no turntable video is written "
                           "(pip install imageio-ffmpeg).")
        return False
    cameras = orbit_cameras(frames, elevation=elevation, height=resolution, width=resolution)
    images = []
    for i in range(frames):
        images.append(to_uint8(shade(system.render_views(cameras[i]), cameras[i], mode)[0]))
    with atomic_path(path) as tmp:
        imageio.mimwrite(tmp, images, fps=fps, macro_block_size=1, quality=8)
    return True
