"""Topology of a mesh: the genus of its welded surface, from the Euler characteristic.

A closed orientable surface of genus g (g handles, or tunnels) has Euler characteristic
``chi = V - E + F = 2 - 2g``. A surface with ``b`` boundary loops (holes in the surface,
left by a cut or a missing face) has ``chi = 2 - 2g - b``, so per connected piece

    g = (2 - V + E - F - b) / 2,

which is the closed formula when ``b = 0``. Exported meshes split vertices along UV seams,
so the mesh is welded first (vertices at the same position become one, whatever their UV
or normal); otherwise every seam would count as a boundary. The piece reported is the
largest (by bounding-box volume, as the evaluation's outer shell): a NeRF's isosurface can
hold small shells inside it, and loose specks beside it.

A cube has genus 0, a torus or a mug 1. Small tunnels through a generated surface, which
no view shows, raise the genus: any 3D tool (a slicer, a boolean) sees them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

TRUE_GENUS: dict[str, int] = {
    "sphere": 0, "cube": 0, "cylinder": 0, "cone": 0, "torus": 1, "pyramid": 0, "mug": 1, "chair": 0,
}
"""Genus of each bundled shape (docs/bundled-prior.md, docs/bundled-world-v2.md)."""


@dataclass
class Topology:
    """The genus and closedness of a mesh's largest welded piece."""

    genus: int
    """``(2 - chi - b) / 2`` of the largest piece (rounded down when ``chi + b`` is odd,
    which only a non-manifold piece gives)."""
    euler: int
    """``chi = V - E + F`` of the largest piece."""
    boundary_loops: int
    """Loops of edges with one face (0 for a closed surface)."""
    watertight: bool
    """The largest piece is closed and manifold: every edge has exactly two faces."""
    non_manifold_edges: int
    """Edges of the largest piece with more than two faces."""
    components: int
    """Connected pieces of the whole welded mesh."""


def welded(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy with coincident vertices merged (ignoring UVs and normals) and faces that
    collapse to a line or a point (two equal corners) removed."""
    out = trimesh.Trimesh(np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces), process=False)
    out.merge_vertices(merge_tex=True, merge_norm=True)
    faces = out.faces
    distinct = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    out.update_faces(distinct)
    out.remove_unreferenced_vertices()
    return out


def pieces(mesh: trimesh.Trimesh) -> list[trimesh.Trimesh]:
    """Connected pieces of a welded mesh (faces joined through shared edges), holes left open."""
    return mesh.split(only_watertight=False, repair=False) if len(mesh.faces) else []


def largest_piece(mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, int]:
    """The welded mesh's piece with the largest bounding box, and the number of pieces."""
    parts = pieces(welded(mesh))
    if not parts:
        raise ValueError("the mesh has no faces")
    return max(parts, key=lambda piece: piece.bounding_box.volume), len(parts)


def count_boundary_loops(n_vertices: int, boundary_edges: np.ndarray) -> int:
    """Connected loops formed by ``boundary_edges [B,2]`` (vertex pairs)."""
    if len(boundary_edges) == 0:
        return 0
    graph = coo_matrix((np.ones(len(boundary_edges)), (boundary_edges[:, 0], boundary_edges[:, 1])), shape=(n_vertices,) * 2)
    _, labels = connected_components(graph, directed=False)
    return len(np.unique(labels[np.unique(boundary_edges)]))


def surface_topology(piece: trimesh.Trimesh) -> tuple[int, int, int, int]:
    """``(genus, chi, boundary loops, non-manifold edges)`` of one connected welded piece."""
    n_v, n_f = len(piece.vertices), len(piece.faces)
    edges = np.sort(piece.edges, axis=1).astype(np.int64)  # [3F,2], each face's three edges
    keys, counts = np.unique(edges[:, 0] * n_v + edges[:, 1], return_counts=True)
    unique = np.stack([keys // n_v, keys % n_v], -1)  # [E,2]
    n_e = len(unique)
    euler = n_v - n_e + n_f
    loops = count_boundary_loops(n_v, unique[counts == 1])
    return (2 - euler - loops) // 2, euler, loops, int((counts > 2).sum())


def topology(mesh: trimesh.Trimesh) -> Topology:
    """Genus and closedness of ``mesh``'s largest welded piece."""
    piece, components = largest_piece(mesh)
    genus, euler, loops, non_manifold = surface_topology(piece)
    return Topology(genus=genus, euler=euler, boundary_loops=loops, watertight=loops == 0 and non_manifold == 0,
                    non_manifold_edges=non_manifold, components=components)


def genus_of(mesh: trimesh.Trimesh) -> int:
    """Genus of ``mesh``'s largest welded piece."""
    return topology(mesh).genus
