"""Mesh cleanup: small pieces, close vertices, remeshing, decimation.

pymeshlab does the work. Without it (its wheel is ~100 MB, and some machines go without),
trimesh and scipy do the merging and the removal of small pieces, and remeshing and
decimation are skipped with a warning.
"""
from __future__ import annotations

import logging

import numpy as np

from dream3d import optional
from dream3d.export.types import ExportError, Mesh

log = logging.getLogger(__name__)


def _face_components(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """The connected component (pieces sharing vertices) of every face, ``[F]``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rows = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    cols = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    graph = coo_matrix((np.ones_like(rows), (rows, cols)), shape=(n_vertices, n_vertices))
    _, labels = connected_components(graph, directed=False)
    return labels[faces[:, 0]]


def _component_sizes(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """Faces per connected component, ``[C]``."""
    return np.bincount(_face_components(faces, n_vertices))


def cleanup_mesh(
    mesh: Mesh,
    min_component_fraction: float = 0.01,
    merge_distance: float = 0.1,
    remesh: bool = False,
    remesh_iterations: int = 3,
    target_faces: int = 20000,
) -> Mesh:
    """A cleaned copy of ``mesh``.

    - pieces with fewer faces than ``min_component_fraction`` x the largest piece are dropped;
    - vertices closer than ``merge_distance`` percent of the bounding-box diagonal are merged;
    - optional isotropic remeshing (edge length from the mesh's current mean edge);
    - quadric edge-collapse decimation to at most ``target_faces`` (0 = no decimation),
      keeping topology so closed meshes stay closed.
    """
    pymeshlab = optional.pymeshlab()
    if pymeshlab is None:
        return cleanup_mesh_without_pymeshlab(mesh, min_component_fraction, merge_distance, remesh, target_faces)
    ms = pymeshlab.MeshSet()
    ms.add_mesh(pymeshlab.Mesh(mesh.vertices.astype(np.float64), mesh.faces.astype(np.int32)))
    ms.meshing_remove_duplicate_vertices()
    if merge_distance > 0:
        ms.meshing_merge_close_vertices(threshold=pymeshlab.PercentageValue(merge_distance))
    ms.meshing_remove_duplicate_faces()
    ms.meshing_remove_null_faces()
    if min_component_fraction > 0:
        current = ms.current_mesh()
        sizes = _component_sizes(current.face_matrix().astype(np.int64), current.vertex_number())
        min_faces = int(np.ceil(min_component_fraction * sizes.max()))
        if min_faces > 1 and len(sizes) > 1:
            ms.meshing_remove_connected_component_by_face_number(mincomponentsize=min_faces)
            log.info("dropped %d of %d pieces below %d faces", int((sizes < min_faces).sum()), len(sizes), min_faces)
    ms.meshing_remove_unreferenced_vertices()
    if remesh:
        edges = ms.get_geometric_measures().get("avg_edge_length")
        target = pymeshlab.PureValue(float(edges)) if edges else pymeshlab.PercentageValue(1.0)
        ms.meshing_isotropic_explicit_remeshing(iterations=remesh_iterations, targetlen=target)
    if target_faces > 0 and ms.current_mesh().face_number() > target_faces:
        ms.meshing_decimation_quadric_edge_collapse(
            targetfacenum=int(target_faces),
            preservetopology=True,
            preservenormal=True,
            optimalplacement=True,
            qualitythr=0.3,
        )
        ms.meshing_remove_unreferenced_vertices()
    out = ms.current_mesh()
    if out.face_number() == 0:
        raise ExportError("Mesh cleanup removed every face; lower `export.min_component_fraction`.")
    vertices = out.vertex_matrix().astype(np.float32)
    faces = out.face_matrix().astype(np.int64)
    log.info("cleanup: %d -> %d faces", mesh.num_faces, len(faces))
    return Mesh(vertices, faces)


def cleanup_mesh_without_pymeshlab(mesh: Mesh, min_component_fraction: float, merge_distance: float,
                                   remesh: bool, target_faces: int) -> Mesh:
    """``cleanup_mesh`` with trimesh and scipy: merging, duplicate and degenerate faces, small pieces."""
    import trimesh

    if remesh or (target_faces > 0 and mesh.num_faces > target_faces):
        optional.warn_once("cleanup:pymeshlab", "pymeshlab is not installed: meshes are exported without remeshing or "
                           "decimation (pip install pymeshlab).")
    tm = trimesh.Trimesh(mesh.vertices.astype(np.float64), mesh.faces.astype(np.int64), process=False)
    if merge_distance > 0:  # snap to a grid of the merge distance, as a percentage of the bounding-box diagonal
        step = merge_distance / 100.0 * float(np.linalg.norm(tm.extents))
        tm.merge_vertices(digits_vertex=max(int(-np.floor(np.log10(step))), 0) if step > 0 else 8)
    else:
        tm.merge_vertices()
    tm.update_faces(tm.unique_faces() & tm.nondegenerate_faces())
    if min_component_fraction > 0 and len(tm.faces):
        labels = _face_components(np.asarray(tm.faces), len(tm.vertices))
        sizes = np.bincount(labels)
        min_faces = int(np.ceil(min_component_fraction * sizes.max()))
        if min_faces > 1 and len(sizes) > 1:
            tm.update_faces(sizes[labels] >= min_faces)
    tm.remove_unreferenced_vertices()
    if len(tm.faces) == 0:
        raise ExportError("Mesh cleanup removed every face; lower `export.min_component_fraction`.")
    log.info("cleanup (trimesh): %d -> %d faces", mesh.num_faces, len(tm.faces))
    return Mesh(np.asarray(tm.vertices, dtype=np.float32), np.asarray(tm.faces, dtype=np.int64))
