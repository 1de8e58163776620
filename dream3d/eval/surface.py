"""Surface quality against the true shape: Chamfer-L1, normal consistency and F-score.

These are the usual metrics of 3D reconstruction, as defined by Mescheder et al. 2019
("Occupancy Networks: Learning 3D Reconstruction in Function Space", CVPR; Chamfer-L1 and
normal consistency) and Tatarchenko et al. 2019 ("What Do Single-view 3D Reconstruction
Networks Learn?", CVPR; the F-score). Both surfaces are sampled densely and uniformly by
area, ``P`` (predicted) and ``T`` (true), each point with the normal of its face; ``nn_X(p)``
is the point of ``X`` nearest to ``p`` (a k-d tree), ``d(p, X) = |p - nn_X(p)|``:

    accuracy     = mean_{p in P} d(p, T)          completeness = mean_{t in T} d(t, P)
    Chamfer-L1   = (accuracy + completeness) / 2                  (world units, lower is better)
    NC           = (mean_{p in P} |n_p . n_{nn_T(p)}| + mean_{t in T} |n_t . n_{nn_P(t)}|) / 2
    precision(τ) = |{p in P : d(p, T) < τ}| / |P|    recall(τ) = |{t in T : d(t, P) < τ}| / |T|
    F(τ)         = 2 precision recall / (precision + recall)

"L1" is Mescheder et al.'s name for the mean of unsquared Euclidean distances (Chamfer-L2
averages their squares). Normals are compared without sign: a surface with flipped faces is
no worse. The prediction is first aligned as the shape match aligns it (``ShapeMatch.align``:
bounding box centred, scaled to the true shape's RMS radius, turned about z), so distances
are in world units, in which every bundled shape fits inside the unit sphere (bounding
radius at most 0.8); τ = 0.05 is 5% of that radius.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from dream3d.eval.canonical import canonical_mesh
from dream3d.eval.shape_match import ShapeMatch, normalise

TAU = 0.05
"""F-score threshold (world units)."""
DENSE_SAMPLES = 20000
"""Points sampled on each surface. Two independent samples of one surface of area A are
about ``0.5 sqrt(A / N)`` apart, which is the floor of Chamfer-L1 (about 0.004 here)."""


@dataclass
class SurfaceScores:
    """Chamfer-L1, normal consistency and F-score of a predicted surface against the truth."""

    chamfer_l1: float
    normal_consistency: float
    fscore: float
    precision: float
    recall: float


def sample_with_normals(mesh: trimesh.Trimesh, count: int = DENSE_SAMPLES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` points ``[N,3]`` uniform by area on ``mesh`` and their face normals ``[N,3]``."""
    points, face_index = trimesh.sample.sample_surface(mesh, count, seed=seed)
    return np.asarray(points, dtype=np.float64), np.asarray(mesh.face_normals[face_index], dtype=np.float64)


def surface_scores(
    pred_points: np.ndarray, pred_normals: np.ndarray, true_points: np.ndarray, true_normals: np.ndarray, tau: float = TAU
) -> SurfaceScores:
    """The module's formulas for two oriented point samples ``[N,3]``/``[M,3]`` in one frame."""
    to_true, nearest_true = cKDTree(true_points).query(pred_points)  # [N]
    to_pred, nearest_pred = cKDTree(pred_points).query(true_points)  # [M]
    nc_pred = np.abs((pred_normals * true_normals[nearest_true]).sum(-1)).mean()
    nc_true = np.abs((true_normals * pred_normals[nearest_pred]).sum(-1)).mean()
    precision, recall = float((to_true < tau).mean()), float((to_pred < tau).mean())
    fscore = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return SurfaceScores(
        chamfer_l1=float(0.5 * (to_true.mean() + to_pred.mean())),
        normal_consistency=float(0.5 * (nc_pred + nc_true)),
        fscore=fscore, precision=precision, recall=recall,
    )


@lru_cache(maxsize=None)
def true_surface(shape: str, count: int = DENSE_SAMPLES, seed: int = 1) -> tuple[np.ndarray, np.ndarray, float]:
    """Dense samples ``[M,3]`` of the canonical ``shape``, bounding box centred, their normals
    ``[M,3]``, and their RMS radius (the scale the prediction is brought to)."""
    points, normals = sample_with_normals(canonical_mesh(shape), count, seed)
    unit, radius = normalise(points)
    return unit * radius, normals, radius


def score_surface(mesh: trimesh.Trimesh, shape: str, match: ShapeMatch, count: int = DENSE_SAMPLES) -> SurfaceScores:
    """Surface metrics of ``mesh`` (the scored surface, world space) against the canonical
    ``shape``, after the shape match's alignment onto it."""
    points, normals = sample_with_normals(mesh, count)
    true_points, true_normals, radius = true_surface(shape, count)
    aligned, rotation = match.align(points, shape, radius)
    return surface_scores(aligned, normals @ rotation.T, true_points, true_normals)
