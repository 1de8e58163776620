"""UV unwrapping with xatlas."""
from __future__ import annotations

import logging

import numpy as np
import trimesh
import xatlas

from dream3d.export.types import Mesh, UVMesh

log = logging.getLogger(__name__)


def vertex_normals(mesh: Mesh) -> np.ndarray:
    """Area-weighted unit vertex normals ``[V,3]`` of ``mesh``."""
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    return np.asarray(tm.vertex_normals, dtype=np.float32)


def unwrap_uv(mesh: Mesh, texture_size: int = 1024, padding: int = 2) -> UVMesh:
    """Cut ``mesh`` into charts and pack them into the unit UV square.

    xatlas packs into an atlas of roughly ``texture_size`` texels, ``padding`` texels
    apart; its atlas need not be square, so the UVs are scaled uniformly to fit the
    square texture (texels stay square). Vertices are split along the seams.
    """
    atlas = xatlas.Atlas()
    atlas.add_mesh(mesh.vertices.astype(np.float32), mesh.faces.astype(np.uint32))
    pack = xatlas.PackOptions()
    pack.resolution = int(texture_size)
    pack.padding = int(padding)
    pack.bilinear = True
    atlas.generate(xatlas.ChartOptions(), pack)
    vmapping, indices, uvs = atlas[0]
    width, height = atlas.width, atlas.height
    scale = np.array([width, height], dtype=np.float32) / float(max(width, height))
    uvs = (uvs.astype(np.float32) * scale).astype(np.float32)
    normals = vertex_normals(mesh)
    log.info("uv atlas: %d charts, %dx%d, utilisation %.2f", atlas.chart_count, width, height, atlas.utilization)
    source = vmapping.astype(np.int64)
    return UVMesh(
        vertices=mesh.vertices[source],
        faces=indices.astype(np.int64),
        uvs=uvs,
        normals=normals[source],
        source_vertex=source,
    )
