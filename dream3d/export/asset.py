"""Write a ``MeshAsset`` (a UV mesh, its frame and its texture) as ``mesh/`` files.

Seams are padded so no background bleeds in at any mip level, the files are written in the
coordinates of the mesh's source (a given file, or dream3d's world written +y up), and a
preview is rendered from the world-space mesh. Every representation that ends as a textured
mesh (Gaussians after back-projection, a refined textured mesh) is written through here.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from dream3d.export.bake import fill_seams
from dream3d.export.config import ExportConfig
from dream3d.export.pipeline import write_export
from dream3d.export.texels import texel_surface_points
from dream3d.export.types import ExportError, UVMesh


def file_mesh(mesh: UVMesh, frame) -> UVMesh:
    """``mesh`` placed so that the exporter writes it in its source's coordinates (``MeshFrame``)."""
    return dataclasses.replace(mesh, vertices=frame.export_points(mesh.vertices),
                               normals=frame.export_normals(mesh.normals))


@torch.no_grad()
def write_mesh_asset(mesh: UVMesh, frame, texture: torch.Tensor, run_dir: Path, config: ExportConfig) -> dict:
    """``run_dir/mesh/``: OBJ+MTL+PNG and GLB, and ``preview.png``; returns a summary."""
    if len(mesh.faces) == 0:
        raise ExportError("There is no mesh to export yet.")
    texture = texture.float().cpu()  # [S,S,3]
    size = int(texture.shape[0])
    texels = texel_surface_points(mesh.vertices, mesh.faces, mesh.uvs, size=size)
    texture = fill_seams(texture, texels.mask, config.dilation)
    result = write_export(file_mesh(mesh, frame), texture, Path(run_dir), config, preview_mesh=mesh)
    return {
        "obj": str(result.obj), "glb": str(result.glb), "texture": str(result.texture),
        "num_vertices": result.num_vertices, "num_faces": result.num_faces, "texture_size": size,
    }
