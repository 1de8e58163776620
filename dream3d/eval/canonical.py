"""Canonical meshes of the bundled prior's six primitives (docs/bundled-prior.md), in
world units, +z up, bounding box centred at the origin."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import trimesh

from dream3d.prior.catalog import SHAPES


def _pyramid(base_edge: float = 0.9, height: float = 0.9) -> trimesh.Trimesh:
    h = base_edge / 2
    corners = [[-h, -h, -height / 2], [h, -h, -height / 2], [h, h, -height / 2], [-h, h, -height / 2], [0.0, 0.0, height / 2]]
    return trimesh.convex.convex_hull(np.array(corners))


@lru_cache(maxsize=None)
def canonical_mesh(shape: str) -> trimesh.Trimesh:
    """The true primitive named ``shape`` (a watertight mesh)."""
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
    raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")


@lru_cache(maxsize=None)
def canonical_points(shape: str, count: int = 1024, seed: int = 0) -> np.ndarray:
    """``count`` points ``[N,3]`` sampled uniformly on the canonical surface."""
    points, _ = trimesh.sample.sample_surface(canonical_mesh(shape), count, seed=seed)
    return np.asarray(points, dtype=np.float32)
