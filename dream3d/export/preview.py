"""``mesh/preview.png``: the exported textured mesh from 4 views, by dream3d's rasteriser."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dream3d.cameras import Cameras, orbit_cameras
from dream3d.export.formats import texture_to_uint8, write_png
from dream3d.export.types import UVMesh
from dream3d.render.light import AMBIENT, DIFFUSE, world_light
from dream3d.render.mesh_raster import TexturedMesh, render_mesh

def textured_mesh(mesh: UVMesh, texture: Tensor) -> TexturedMesh:
    """A renderable mesh from an exported one and its ``texture [S,S,3]`` in [0,1]."""
    return TexturedMesh(
        vertices=torch.as_tensor(mesh.vertices, dtype=torch.float32),
        faces=torch.as_tensor(mesh.faces, dtype=torch.long),
        uvs=torch.as_tensor(mesh.uvs, dtype=torch.float32),
        texture=texture.float(),
        vertex_normals=torch.as_tensor(mesh.normals, dtype=torch.float32),
    )


@torch.no_grad()
def render_views(mesh: TexturedMesh, cameras: Cameras, supersample: int = 2) -> Tensor:
    """Lambertian-shaded renders ``[B,H,W,3]`` on white, anti-aliased by supersampling."""
    big = cameras.with_resolution(cameras.height * supersample, cameras.width * supersample)
    render = render_mesh(mesh, big, background=1.0, backend="auto")
    light = world_light(big.c2w)  # [B,3]
    n_dot_l = (render.normal * light[:, None, None, :]).sum(-1, keepdim=True).clamp_min(0.0)
    shaded = render.rgb * (AMBIENT + DIFFUSE * n_dot_l)
    rgb = render.alpha * shaded + (1.0 - render.alpha)  # [B,H',W',3]
    rgb = F.avg_pool2d(rgb.permute(0, 3, 1, 2), supersample)  # [B,3,H,W]
    return rgb.permute(0, 2, 3, 1).clamp(0.0, 1.0)


def write_preview(path: Path, mesh: UVMesh, texture: Tensor, size: int = 256, n_views: int = 4) -> Path:
    """Render ``n_views`` orbit views (elevation 20 deg) side by side into ``path`` (PNG)."""
    cameras = orbit_cameras(n_views, elevation=20.0, distance=2.5, fovy=40.0, height=size, width=size,
                            start_azimuth=0.0)
    views = render_views(textured_mesh(mesh, texture), cameras)  # [B,H,W,3]
    strip = torch.cat(list(views), dim=1).numpy()  # [H,B*W,3]
    write_png(path, texture_to_uint8(np.asarray(strip)))
    return Path(path)
