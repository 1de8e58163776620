"""An exported asset seen as the bundled world's renderer sees the truth: the textured mesh,
lit by the dataset's light (``albedo * (AMBIENT + DIFFUSE * max(0, n . l))``, the light fixed
in camera space), over white. Novel-view scores compare these with true renders."""
from __future__ import annotations

import numpy as np
import torch
import trimesh
from torch import Tensor

from dream3d.cameras import Cameras
from dream3d.render.light import AMBIENT, DIFFUSE, world_light
from dream3d.render.mesh_raster import TexturedMesh, render_mesh


def textured_mesh(mesh: trimesh.Trimesh) -> TexturedMesh:
    """dream3d's ``TexturedMesh`` of a trimesh with a texture (or vertex colours, or neither)."""
    vertices = torch.tensor(np.asarray(mesh.vertices), dtype=torch.float32)
    faces = torch.tensor(np.asarray(mesh.faces), dtype=torch.long)
    visual = mesh.visual
    uv = getattr(visual, "uv", None)
    material = getattr(visual, "material", None)
    image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
    if uv is not None and image is not None:
        texture = torch.tensor(np.asarray(image.convert("RGB")), dtype=torch.float32) / 255.0
        return TexturedMesh(vertices, faces, uvs=torch.tensor(np.asarray(uv), dtype=torch.float32), texture=texture)
    colours = getattr(visual, "vertex_colors", None)
    if colours is not None and len(colours) == len(vertices):
        return TexturedMesh(vertices, faces, vertex_colors=torch.tensor(np.asarray(colours)[:, :3], dtype=torch.float32) / 255.0)
    return TexturedMesh(vertices, faces)


@torch.no_grad()
def render_asset(mesh: trimesh.Trimesh, cameras: Cameras) -> tuple[Tensor, Tensor]:
    """Lit renders ``[V,3,H,W]`` over white and coverage ``[V,1,H,W]`` of a world-frame mesh."""
    render = render_mesh(textured_mesh(mesh), cameras, background=1.0, backend="torch")
    alpha = render.alpha  # [V,H,W,1]
    albedo = render.rgb - (1.0 - alpha)  # colour x coverage
    light = world_light(cameras.c2w)[:, None, None, :]  # [V,1,1,3]
    shade = AMBIENT + DIFFUSE * (render.normal * light).sum(-1, keepdim=True).clamp_min(0.0)
    rgb = (albedo * shade + (1.0 - alpha)).clamp(0.0, 1.0)
    return rgb.permute(0, 3, 1, 2), alpha.permute(0, 3, 1, 2)
