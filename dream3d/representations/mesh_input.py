"""A user's mesh file as the start of a texture stage: read, check, normalise, decimate, UV-map."""
from __future__ import annotations

import logging

import numpy as np
import torch
from tqdm import tqdm

from dream3d.export.config import ExportConfig
from dream3d.export.types import Mesh, UVMesh
from dream3d.interfaces import MeshAsset
from dream3d.scene.textured_mesh import normalise, read_mesh_file, uvs_usable

log = logging.getLogger(__name__)


def seamless_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Vertex normals ``[V,3]`` computed with coincident vertices merged (no seams at UV cuts)."""
    from dream3d.export.uv import vertex_normals

    unique, inverse = np.unique(np.round(vertices, 6), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    return vertex_normals(Mesh(unique.astype(np.float32), inverse[faces]))[inverse]


def prepare_input_mesh(path: str, config, export: ExportConfig) -> MeshAsset:
    """Read, check, normalise, decimate if huge and UV-map a mesh file.

    ``config`` is a ``TextureStageConfig``. Returns the mesh in normalised world, its frame,
    and an initial texture ``[H,W,3]`` in [0,1] when the file's own texture is kept. Bad
    input raises ``MeshInputError``. A progress bar (``export.progress``) names each step:
    reading, decimating and UV-unwrapping a large mesh take a while.
    """
    from dream3d.export.cleanup import cleanup_mesh
    from dream3d.export.uv import unwrap_uv

    with tqdm(total=4, desc="mesh: reading", unit="step", disable=not export.progress, dynamic_ncols=True) as bar:
        source = read_mesh_file(path)
        vertices, faces, uvs, image = source.vertices, source.faces, source.uvs, source.texture
        bar.update(1)
        if config.max_faces and len(faces) > config.max_faces:
            log.warning("The mesh '%s' has %d faces; decimating it to %d (system.texture.max_faces). "
                        "Its UVs and texture are dropped.", path, len(faces), config.max_faces)
            bar.set_description(f"mesh: decimating {len(faces)} -> {config.max_faces} faces")
            reduced = cleanup_mesh(Mesh(vertices, faces), min_component_fraction=0.0, merge_distance=0.0,
                                   target_faces=config.max_faces)
            vertices, faces, uvs, image = reduced.vertices, reduced.faces, None, None
        bar.update(1)
        vertices, frame = normalise(vertices, config.up_axis, config.radius)
        if config.reuse_uvs and uvs_usable(uvs):
            bar.set_description("mesh: vertex normals")
            mesh = UVMesh(vertices, faces, uvs, seamless_normals(vertices, faces), np.arange(len(vertices)))
        else:
            if uvs is not None:
                log.info("The mesh's UVs leave the unit square; unwrapping it again with xatlas.")
            bar.set_description(f"mesh: UV unwrapping {len(faces)} faces (xatlas)")
            mesh = unwrap_uv(Mesh(vertices, faces), export.texture_size, export.uv_padding)
            image = None
        bar.update(1)
        texture = None
        if image is not None and config.use_input_texture:
            texture = torch.from_numpy(np.array(image, dtype=np.float32)) / 255.0
        bar.set_description("mesh: ready")
        bar.update(1)
    log.info("Input mesh: %d vertices, %d faces, scale %.4g", len(mesh.vertices), len(mesh.faces), frame.scale)
    return MeshAsset(mesh, frame, texture)
