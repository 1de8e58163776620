"""Which shape is this surface? Chamfer distance after centring, scale and a rotation
about the up axis (the only pose freedom a generated asset has: it stands on +z).

The alignment found here (bounding-box centre, unit RMS radius, the best rotation about z)
is the one every surface metric uses (``surface.py``). The six primitives repeat every
quarter turn about z, so a quarter turn is searched; the mug and the chair have a front
and are searched over a full turn (the same angular step).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from dream3d.eval.canonical import canonical_points
from dream3d.prior.catalog import FEATURED, SHAPES


def normalise(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre the bounding box at the origin and scale to unit RMS radius; returns the scale."""
    centred = points - 0.5 * (points.min(0) + points.max(0))
    scale = float(np.sqrt((centred**2).sum(-1).mean()))
    return centred / max(scale, 1e-8), scale


def rotation_about_z(angle: float) -> np.ndarray:
    """The rotation ``[3,3]`` by ``angle`` radians about +z (counter-clockwise seen from above)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def search_angles(shape: str, per_quarter_turn: int) -> np.ndarray:
    """The angles ``[n]`` (radians) searched for ``shape``: ``per_quarter_turn`` steps over
    the shape's period about z (a quarter turn, or a full turn for a shape with a front)."""
    turns = 4 if shape in FEATURED else 1
    return np.arange(per_quarter_turn * turns) * (0.5 * math.pi / per_quarter_turn)


@dataclass
class ShapeMatch:
    """The nearest shape, the Chamfer distance to each (normalised units), and the rotation
    about z that takes the normalised prediction onto each."""

    shape: str
    distances: dict[str, float]
    angles: dict[str, float]
    """Best rotation (radians, about +z) of the prediction onto each shape."""

    def world_chamfer(self, shape: str, rms_radius: float) -> float:
        """Chamfer distance to ``shape`` in world units of a shape of that RMS radius."""
        return self.distances[shape] * rms_radius

    def align(self, points: np.ndarray, shape: str, radius: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Points ``[N,3]`` of the predicted surface moved onto ``shape``'s canonical frame:
        ``R(angle) @ normalise(points) * radius``, i.e. bounding box centred, scaled to the
        shape's RMS radius (default :func:`rms_radius`) and turned by the matched angle.
        Returns them and ``R [3,3]`` (what turns the surface's normals)."""
        rotation = rotation_about_z(self.angles[shape])
        radius = rms_radius(shape) if radius is None else radius
        return normalise(points)[0] @ rotation.T * radius, rotation


def match_shape(points: np.ndarray, per_quarter_turn: int = 12, shapes: tuple[str, ...] = SHAPES) -> ShapeMatch:
    """Classify surface points ``[N,3]`` (world space, +z up) by the nearest of ``shapes``.

    For each shape and angle ``a``, the symmetric Chamfer distance of the turned prediction
    and the target, ``(mean_p d(R(a) p, T) + mean_t d(t, R(a) P)) / 2`` with ``d`` the
    nearest-neighbour distance (a k-d tree), in normalised units; turning the target by
    ``R(-a)`` instead gives the same distances, so one k-d tree per point set serves every angle."""
    pred = normalise(points.astype(np.float64))[0]
    pred_tree = cKDTree(pred)
    distances, angles = {}, {}
    for shape in shapes:
        target = normalise(canonical_points(shape).astype(np.float64))[0]
        target_tree = cKDTree(target)
        scores = []
        for angle in search_angles(shape, per_quarter_turn):
            rotation = rotation_about_z(angle)
            to_target = target_tree.query(pred @ rotation.T)[0].mean()  # R pred -> target
            to_pred = pred_tree.query(target @ rotation)[0].mean()  # R^-1 target -> pred
            scores.append(0.5 * float(to_target + to_pred))
        best = int(np.argmin(scores))
        distances[shape], angles[shape] = scores[best], float(search_angles(shape, per_quarter_turn)[best])
    return ShapeMatch(min(distances, key=distances.get), distances, angles)


def rms_radius(shape: str) -> float:
    """RMS distance of the canonical surface from its bounding-box centre (world units)."""
    return normalise(canonical_points(shape))[1]
