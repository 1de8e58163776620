"""The part of a mesh a user can see: faces hit first by rays from cameras around it.

A NeRF's isosurface can hold tunnels and pockets inside the visible surface (where the
unseen interior density dips below the level). They belong to the same connected piece
as the outer surface, so they survive ``outer_shell``; scoring them would judge what no
view shows. Faces that cover a pixel centre in at least one of a few rings of views (the
torch rasteriser's z-buffer) are the visible surface.
"""
from __future__ import annotations

import numpy as np
import torch
import trimesh

from dream3d.cameras import Cameras
from dream3d.render.mesh_raster import TexturedMesh, rasterize

VIEW_ELEVATIONS = (-45.0, 0.0, 30.0, 60.0, 85.0)
"""Degrees above the xy-plane of the rings of views (+z up, as the world)."""
VIEWS_PER_RING = 8


def visibility_cameras(resolution: int = 160, distance: float = 3.0) -> Cameras:
    """Rings of cameras at :data:`VIEW_ELEVATIONS` looking at the origin, every other ring
    turned by half a step in azimuth."""
    rings = len(VIEW_ELEVATIONS)
    elevation = torch.tensor(VIEW_ELEVATIONS).repeat_interleave(VIEWS_PER_RING)
    step = 360.0 / VIEWS_PER_RING
    azimuth = torch.arange(VIEWS_PER_RING, dtype=torch.float32).repeat(rings) * step
    azimuth = azimuth + 0.5 * step * (torch.arange(rings * VIEWS_PER_RING) // VIEWS_PER_RING % 2)
    return Cameras.from_spherical(elevation, azimuth, torch.full_like(elevation, distance), 40.0, resolution, resolution)


def visible_faces(mesh: trimesh.Trimesh, cameras: Cameras | None = None) -> np.ndarray:
    """Indices of the faces of ``mesh`` (world space, +z up) seen from ``cameras``."""
    cameras = visibility_cameras() if cameras is None else cameras
    raster_mesh = TexturedMesh(
        vertices=torch.as_tensor(np.asarray(mesh.vertices), dtype=torch.float32),
        faces=torch.as_tensor(np.asarray(mesh.faces), dtype=torch.long),
    )
    face_ids = torch.cat([rasterize(raster_mesh, cameras[i : i + 1]).face_id.flatten() for i in range(len(cameras))])
    return torch.unique(face_ids[face_ids >= 0]).numpy()


def visible_surface(mesh: trimesh.Trimesh, cameras: Cameras | None = None) -> trimesh.Trimesh:
    """The sub-mesh of faces seen from ``cameras`` (the mesh itself if nothing is seen)."""
    faces = visible_faces(mesh, cameras)
    if len(faces) == 0:
        return mesh
    return mesh.submesh([faces], append=True)
