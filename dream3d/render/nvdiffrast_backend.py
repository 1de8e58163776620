"""The CUDA path of the mesh rasteriser, through nvdiffrast's public API.

Imported lazily by :func:`dream3d.render.mesh_raster.render_mesh` only when nvdiffrast
imports and the mesh lives on a GPU. Same inputs and outputs as the torch path, plus
anti-aliased silhouettes (``dr.antialias``).

OpenCV camera to clip space: with ``(x, y, z)`` in camera coordinates and intrinsics
``fx, fy, cx, cy``, ``clip = (2fx/W x + (2cx/W - 1) z, 2fy/H y + (2cy/H - 1) z,
((f+n) z - 2fn)/(f-n), z)``. nvdiffrast's image row 0 is ``y_ndc = -1``, which is
pixel row 0 here, so images need no flip.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from dream3d import optional
from dream3d.cameras import Cameras
from dream3d.render.types import Render

_contexts: dict[torch.device, object] = {}


def _context(dr, device: torch.device):
    """One rasterisation context per device, created on first use."""
    if device not in _contexts:
        _contexts[device] = dr.RasterizeCudaContext(device=device)
    return _contexts[device]


def clip_positions(vertices: Tensor, cameras: Cameras, near: float, far: float) -> Tensor:
    """Clip-space positions ``[B,V,4]`` of world ``vertices [V,3]``."""
    w2c = cameras.w2c()
    cam = torch.einsum("bij,vj->bvi", w2c[:, :3, :3], vertices) + w2c[:, None, :3, 3]  # [B,V,3]
    K = cameras.intrinsics()
    x, y, z = cam.unbind(-1)
    fx, fy = K[:, 0, 0, None], K[:, 1, 1, None]
    cx, cy = K[:, 0, 2, None], K[:, 1, 2, None]
    W, H = cameras.width, cameras.height
    clip_x = 2 * fx / W * x + (2 * cx / W - 1) * z
    clip_y = 2 * fy / H * y + (2 * cy / H - 1) * z
    clip_z = ((far + near) * z - 2 * far * near) / (far - near)
    return torch.stack([clip_x, clip_y, clip_z, z], dim=-1)


def render_mesh_nvdiffrast(mesh, cameras: Cameras, background: Tensor | Sequence[float] | float, near: float,
                           far: float = 100.0) -> Render:
    """nvdiffrast implementation of :func:`dream3d.render.mesh_raster.render_mesh`."""
    dr = optional.require(optional.nvdiffrast_torch(), "the nvdiffrast mesh rasteriser", "`pip install nvdiffrast`")
    device = mesh.vertices.device
    faces = mesh.faces.to(torch.int32).contiguous()
    pos = clip_positions(mesh.vertices, cameras, near, far).contiguous()
    rast, rast_db = dr.rasterize(_context(dr, device), pos, faces, resolution=[cameras.height, cameras.width])
    alpha = (rast[..., 3:] > 0).float()  # [B,H,W,1]
    face_id = rast[..., 3].long() - 1  # [B,H,W]

    if mesh.texture is not None and mesh.uvs is not None:
        uv_faces = (mesh.faces if mesh.uv_faces is None else mesh.uv_faces).to(torch.int32).contiguous()
        uv, uv_da = dr.interpolate(mesh.uvs[None].contiguous(), rast, uv_faces, rast_db=rast_db, diff_attrs="all")
        uv = torch.stack([uv[..., 0], 1.0 - uv[..., 1]], -1)  # nvdiffrast's v=0 is texture row 0
        uv_da = uv_da * uv_da.new_tensor([1.0, 1.0, -1.0, -1.0])
        color = dr.texture(mesh.texture[None].contiguous(), uv.contiguous(), uv_da=uv_da, filter_mode="linear-mipmap-linear")
    elif mesh.vertex_colors is not None:
        color, _ = dr.interpolate(mesh.vertex_colors[None].contiguous(), rast, faces)
    else:
        color = torch.full((*alpha.shape[:3], 3), 0.8, device=device)

    w2c = cameras.w2c()
    cam_z = torch.einsum("bj,vj->bv", w2c[:, 2, :3], mesh.vertices) + w2c[:, None, 2, 3]  # [B,V]
    depth, _ = dr.interpolate(cam_z[..., None].contiguous(), rast, faces)
    if mesh.vertex_normals is not None:
        normal, _ = dr.interpolate(mesh.vertex_normals[None].contiguous(), rast, faces)
        normal = F.normalize(normal, dim=-1)
    else:
        v = mesh.vertices[mesh.faces]
        fn = F.normalize(torch.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0], dim=-1), dim=-1)
        normal = fn[face_id.clamp_min(0)]

    bg = torch.as_tensor(background, dtype=color.dtype, device=device)
    bg = bg if bg.dim() == 4 else bg.reshape(1, 1, 1, -1)
    rgb = color * alpha + (1.0 - alpha) * bg
    rgb = dr.antialias(rgb.contiguous(), rast, pos, faces)
    return Render(rgb=rgb, alpha=alpha, depth=depth * alpha, normal=normal * alpha, extras={"face_id": face_id})
