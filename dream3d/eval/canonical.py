"""Canonical meshes of the bundled world's shapes, in world units, +z up, bounding box
centred at the origin: the six primitives of docs/bundled-prior.md as exact trimesh
primitives, and the mug and the chair of docs/bundled-world-v2.md as marching cubes of
their signed distance functions (``dream3d.prior.primitives``) on a 0.005 grid."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import trimesh

from dream3d.eval.sdf_mesh import mesh_from_sdf
from dream3d.eval.topology import TRUE_GENUS, topology
from dream3d.prior.catalog import SHAPES
from dream3d.prior.primitives import BOUNDS, sdf

SDF_SPACING = 0.005
"""Grid spacing (world units) of the marching-cubes meshes: the mug's handle (minor radius
0.05) spans 20 cells, and the surface is within a few thousandths of the true one."""


def _pyramid(base_edge: float = 0.9, height: float = 0.9) -> trimesh.Trimesh:
    h = base_edge / 2
    corners = [[-h, -h, -height / 2], [h, -h, -height / 2], [h, h, -height / 2], [-h, h, -height / 2], [0.0, 0.0, height / 2]]
    return trimesh.convex.convex_hull(np.array(corners))


def sdf_mesh(shape: str, spacing: float = SDF_SPACING) -> trimesh.Trimesh:
    """Marching cubes of ``shape``'s SDF, checked: watertight, with the shape's true genus."""
    low, high = BOUNDS[shape]
    mesh = mesh_from_sdf(lambda points: sdf(shape, points), low, high, spacing)
    found = topology(mesh)
    if not found.watertight or found.components != 1 or found.genus != TRUE_GENUS[shape]:
        raise RuntimeError(f"the {shape}'s marching-cubes mesh is not one closed surface of genus "
                           f"{TRUE_GENUS[shape]} ({found}); use a finer spacing than {spacing}")
    return mesh


@lru_cache(maxsize=None)
def canonical_mesh(shape: str) -> trimesh.Trimesh:
    """The true shape named ``shape`` (a watertight mesh). Cached: do not modify it in place."""
    if shape == "sphere":
        return trimesh.creation.icosphere(subdivisions=4, radius=0.5)
    if shape == "cube":
        return trimesh.creation.box(extents=(0.8, 0.8, 0.8))
    if shape == "cylinder":
        return trimesh.creation.cylinder(radius=0.4, height=0.9, sections=64)
    if shape == "cone":
        cone = trimesh.creation.cone(radius=0.5, height=1.0, sections=64)
        cone.apply_translation((0.0, 0.0, -0.5))
        return cone
    if shape == "torus":
        return trimesh.creation.torus(major_radius=0.4, minor_radius=0.15, major_sections=64, minor_sections=32)
    if shape == "pyramid":
        return _pyramid()
    if shape in ("mug", "chair"):
        return sdf_mesh(shape)
    raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")


@lru_cache(maxsize=None)
def canonical_points(shape: str, count: int = 1024, seed: int = 0) -> np.ndarray:
    """``count`` points ``[N,3]`` sampled uniformly on the canonical surface."""
    points, _ = trimesh.sample.sample_surface(canonical_mesh(shape), count, seed=seed)
    return np.asarray(points, dtype=np.float32)
