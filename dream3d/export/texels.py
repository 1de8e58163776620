"""Rasterise a UV-unwrapped mesh in texture space: a surface point per texel.

Used to bake textures from a scene, and to back-project colours onto a mesh.
Texel ``(row r, col c)`` of an ``S x S`` texture has its centre at
``u = (c + 0.5) / S``, ``v = 1 - (r + 0.5) / S`` (OBJ convention: v points up, row 0 is
the top of the image file). A texel is valid when its centre lies in a UV triangle.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dream3d.render.mesh_raster import edge_barycentrics, pixel_centres, face_normals, rasterize_2d


@dataclass
class TexelMap:
    """World-space surface samples at the texel centres of a UV atlas."""

    points: Tensor  # [S,S,3] surface point of each texel (0 where invalid)
    normals: Tensor  # [S,S,3] unit surface normal (0 where invalid)
    mask: Tensor  # [S,S] bool, texel centre inside a UV triangle
    face_id: Tensor  # [S,S] long, the triangle of each texel (-1 where invalid)
    bary: Tensor  # [S,S,3] barycentrics of the texel centre in that triangle (0 where invalid)


def _as_tensor(x: Tensor | np.ndarray, dtype: torch.dtype) -> Tensor:
    return x.to(dtype) if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x), dtype=dtype)


@torch.no_grad()
def texel_surface_points(
    vertices: Tensor | np.ndarray,
    faces: Tensor | np.ndarray,
    uvs: Tensor | np.ndarray,
    uv_faces: Optional[Tensor | np.ndarray] = None,
    size: int = 1024,
    vertex_normals: Optional[Tensor | np.ndarray] = None,
) -> TexelMap:
    """For each texel of an ``size x size`` texture, the surface point it maps to.

    ``vertices [V,3]``, ``faces [F,3]``, ``uvs [T,2]``, ``uv_faces [F,3]`` (indices into
    ``uvs``; ``None`` means ``faces``, as when vertices are split at seams).
    Normals interpolate ``vertex_normals [V,3]`` when given, else are flat face normals.
    """
    v = _as_tensor(vertices, torch.float32)
    f = _as_tensor(faces, torch.long)
    t = _as_tensor(uvs, torch.float32)
    tf = f if uv_faces is None else _as_tensor(uv_faces, torch.long)
    # UV -> texel-space pixel coordinates (x right, y down), [F,3,2].
    xy = torch.stack([t[:, 0] * size, (1.0 - t[:, 1]) * size], dim=-1)[tf]
    flat = rasterize_2d(xy, size, size)  # [S*S]
    pix = torch.nonzero(flat >= 0).squeeze(1)  # [K]
    face = flat[pix]
    bary, _ = edge_barycentrics(xy[face], pixel_centres(pix, size))  # [K,3]
    points = (v[f[face]] * bary[..., None]).sum(1)  # [K,3]
    if vertex_normals is not None:
        n = _as_tensor(vertex_normals, torch.float32)
        normals = F.normalize((n[f[face]] * bary[..., None]).sum(1), dim=-1)
    else:
        normals = face_normals(v, f)[face]

    def image(values: Tensor) -> Tensor:
        out = values.new_zeros(size * size, values.shape[-1])
        out[pix] = values
        return out.view(size, size, -1)

    return TexelMap(
        points=image(points),
        normals=image(normals),
        mask=(flat >= 0).view(size, size),
        face_id=flat.view(size, size),
        bary=image(bary),
    )
