"""Janus count: how many times a shape's one distinctive feature appears on an asset
(docs/bundled-world-v2.md): the mug's handle, the chair's backrest.

Score distillation can paint the front feature on every side (the Janus problem). An asset
is **Janus** when the count is 2 or more, **missing** when it is 0, and **oriented** when its
single feature lies within 45 degrees of where the spec puts it: the handle at +y, the
backrest at -x. The asset is measured in its own (dream3d world, +z up) frame, moved and
scaled only (``normalise``: bounding box centred, RMS radius that of the true shape), never
turned: the alignment for the surface metrics turns it about z, which would hide a feature
on the wrong side.

Both counts read a dense sample of the surface, uniform by area (``N`` points; a point
stands for ``1/N`` of the area).

Mug (handles). The body's axis ``a`` and the radius ``R``: start from +z through the median
point; then, three times, ``R`` = the median distance of the points from the axis, the body
= the points within ``1.25 R`` of it, the axis = the body's principal axis nearest to +z
(kept at +z if that is more than 30 degrees off: the mug stands upright, and a squat body
has no clear principal axis) through the body's centroid. The points farther than
``1.25 R`` from the axis, binned by azimuth about it (36 bins; azimuth 0 along the world's
+x projected off the axis), give an area histogram; bins with at least 0.2% of the area are
occupied, and each run of occupied bins (wrapping around) with at least 1% of the area is
one handle, its direction the circular mean azimuth of its points.

Chair (backrests). The surface's normals are turned outward (``sum n.(p - c) > 0``, as on a
closed surface, where it is 3x the volume). The seat's height ``h`` is that of the 2 cm layer
with the most upward-facing area (``n_z > 0.8``), refined to the mean height of that
area. The seat's footprint, the points of the layer from ``h - 0.1`` to ``h + 0.01``, gives
the seat frame: its minimum-area bounding rectangle (orientation from the convex hull's
edges, the extent from the 1st to 99th percentiles), with in-seat coordinates ``(u, v)`` in
[-1, 1]. A side (``-u``, ``+u``, ``-v``, ``+v``) has a backrest when the points above
``h + 0.25`` in its outer band (beyond half the seat's half-width, at most 1.6 half-widths
out, within 1.3 half-widths along the side) hold at least 1% of the area and cover at
least half of the side's length (5 of 10 bins along it, a bin holding 0.05% of the area):
a vertical slab rising more than 0.25 above the seat. Its direction is the side's outward
normal.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial import ConvexHull, QhullError

from dream3d.eval.shape_match import normalise, rms_radius
from dream3d.eval.surface import sample_with_normals
from dream3d.prior.catalog import FEATURED

FEATURE_AZIMUTH: dict[str, float] = {"mug": 90.0, "chair": 180.0}
"""Where the spec puts each feature: degrees counter-clockwise from +x seen from above
(the handle at +y, the backrest at -x)."""
ORIENTATION_TOLERANCE = 45.0
"""Degrees a single feature may lie off its spec direction and still be oriented."""
SAMPLES = 20000

HANDLE_RADIUS_FACTOR, AZIMUTH_BINS = 1.25, 36
MIN_BIN_AREA, MIN_HANDLE_AREA = 0.002, 0.01
AXIS_MAX_TILT = 30.0
BACKREST_RISE, SEAT_LAYER, UP_FACING = 0.25, 0.02, 0.8
BAND_INNER, BAND_OUTER, BAND_ALONG = 0.5, 1.6, 1.3
MIN_SLAB_AREA, SPAN_BINS, MIN_SPAN_BINS, MIN_SPAN_BIN_AREA = 0.01, 10, 5, 0.0005


@dataclass
class FeatureCount:
    """How many of ``shape``'s feature an asset has, and where."""

    shape: str
    feature: str
    count: int
    azimuths: list[float]
    """Direction of each feature found, degrees counter-clockwise from +x (world frame)."""
    janus: bool
    missing: bool
    oriented: bool


def angle_between(a: float, b: float) -> float:
    """Difference of two azimuths in degrees, in [0, 180]."""
    return abs((a - b + 180.0) % 360.0 - 180.0)


def verdict(shape: str, azimuths: list[float]) -> FeatureCount:
    """Janus / missing / oriented flags of the features found at ``azimuths`` (degrees)."""
    oriented = len(azimuths) == 1 and angle_between(azimuths[0], FEATURE_AZIMUTH[shape]) <= ORIENTATION_TOLERANCE
    return FeatureCount(shape, FEATURED[shape], len(azimuths), [round(a, 1) for a in azimuths],
                        janus=len(azimuths) >= 2, missing=not azimuths, oriented=oriented)


def count_features(mesh: trimesh.Trimesh, shape: str, samples: int = SAMPLES) -> FeatureCount:
    """Count ``shape``'s feature (``"mug"``: handles, ``"chair"``: backrests) on ``mesh``
    (world space, +z up), moved and scaled to the true shape's size but not turned."""
    if shape not in FEATURED:
        raise ValueError(f"{shape!r} has no feature to count; shapes with one: {', '.join(FEATURED)}")
    points, normals = sample_with_normals(mesh, samples)
    unit, _ = normalise(points)
    points = unit * rms_radius(shape)
    azimuths = handle_azimuths(points) if shape == "mug" else backrest_azimuths(points, normals)
    return verdict(shape, azimuths)


# ------------------------------------------------------------------------------------ mug
def body_axis(points: np.ndarray, iterations: int = 3) -> tuple[np.ndarray, np.ndarray, float]:
    """The body's axis (a point ``[3]`` on it, its unit direction ``[3]``) and radius ``R``."""
    up = np.array([0.0, 0.0, 1.0])
    centre, axis = np.median(points, 0), up
    for _ in range(iterations):
        radial = radial_distance(points, centre, axis)
        radius = float(np.median(radial))
        body = points[radial <= HANDLE_RADIUS_FACTOR * radius]
        centre = body.mean(0)
        _, vectors = np.linalg.eigh(np.cov((body - centre).T))
        candidate = vectors[:, np.argmax(np.abs(vectors.T @ up))]
        candidate = candidate * np.sign(candidate @ up)
        axis = candidate if math.degrees(math.acos(min(1.0, candidate @ up))) <= AXIS_MAX_TILT else up
    return centre, axis, float(np.median(radial_distance(points, centre, axis)))


def radial_distance(points: np.ndarray, centre: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Distance ``[N]`` of each point from the line through ``centre`` along unit ``axis``."""
    rel = points - centre
    return np.linalg.norm(rel - np.outer(rel @ axis, axis), axis=-1)


def handle_azimuths(points: np.ndarray) -> list[float]:
    """Azimuths (degrees, world frame) of the handles on a mug's surface sample ``[N,3]``."""
    centre, axis, radius = body_axis(points)
    rel = points - centre
    e1 = np.array([1.0, 0.0, 0.0]) - axis[0] * axis  # world +x, off the axis
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    azimuth = np.degrees(np.arctan2(rel @ e2, rel @ e1))  # [N] in (-180, 180]
    outside = radial_distance(points, centre, axis) > HANDLE_RADIUS_FACTOR * radius
    width = 360.0 / AZIMUTH_BINS
    bins = ((azimuth + 180.0) // width).astype(int) % AZIMUTH_BINS
    area = np.bincount(bins[outside], minlength=AZIMUTH_BINS) / len(points)  # [bins] area fractions
    return [circular_mean(azimuth[outside & np.isin(bins, run)])
            for run in circular_runs(area >= MIN_BIN_AREA) if area[run].sum() >= MIN_HANDLE_AREA]


def circular_runs(occupied: np.ndarray) -> list[np.ndarray]:
    """Runs of consecutive ``True`` bins of a circular histogram, as index arrays."""
    n = len(occupied)
    if occupied.all():
        return [np.arange(n)]
    start = int(np.argmin(occupied))  # an empty bin: runs cannot wrap past it
    runs, current = [], []
    for i in (np.arange(n) + start) % n:
        if occupied[i]:
            current.append(i)
        elif current:
            runs.append(np.array(current))
            current = []
    if current:
        runs.append(np.array(current))
    return runs


def circular_mean(degrees: np.ndarray) -> float:
    """Mean direction of azimuths in degrees."""
    radians = np.radians(degrees)
    return float(np.degrees(np.arctan2(np.sin(radians).mean(), np.cos(radians).mean())))


# ---------------------------------------------------------------------------------- chair
def outward(points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """``normals`` flipped, all together, if they point inward on the whole (``sum n.(p - c) < 0``)."""
    return normals if (normals * (points - points.mean(0))).sum() >= 0 else -normals


def seat_height(points: np.ndarray, normals: np.ndarray) -> float:
    """Height of the seat: the layer with the most upward-facing area, refined to its mean."""
    up = points[normals[:, 2] > UP_FACING, 2]
    if len(up) == 0:
        return float(np.median(points[:, 2]))
    edges = np.arange(up.min(), up.max() + SEAT_LAYER, SEAT_LAYER)
    counts, edges = np.histogram(up, bins=edges if len(edges) > 1 else 1)
    centre = 0.5 * (edges[np.argmax(counts)] + edges[np.argmax(counts) + 1])
    return float(up[np.abs(up - centre) <= SEAT_LAYER].mean())


def seat_frame(xy: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The seat's minimum-area bounding rectangle: its angle (radians, in [-pi/4, pi/4)),
    centre ``[2]`` (world xy) and half-extents ``[2]`` along its axes."""
    angles = [0.0]
    try:
        hull = xy[ConvexHull(xy).vertices]
        edges = np.roll(hull, -1, 0) - hull
        angles = list((np.arctan2(edges[:, 1], edges[:, 0]) + math.pi / 4) % (math.pi / 2) - math.pi / 4)
    except (QhullError, ValueError):  # fewer than 3 points, or all on a line
        pass
    best = None
    for angle in angles:
        local = xy @ rotation_2d(-angle).T
        low, high = np.percentile(local, 1, axis=0), np.percentile(local, 99, axis=0)
        area = float(np.prod(high - low))
        if best is None or area < best[0]:
            best = (area, angle, low, high)
    _, angle, low, high = best
    return angle, rotation_2d(angle) @ (0.5 * (low + high)), np.maximum(0.5 * (high - low), 1e-3)


def rotation_2d(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def backrest_azimuths(points: np.ndarray, normals: np.ndarray) -> list[float]:
    """Azimuths (degrees, world frame) of the backrests on a chair's surface sample."""
    normals = outward(points, normals)
    height = seat_height(points, normals)
    layer = points[(points[:, 2] >= height - 0.1) & (points[:, 2] <= height + 0.01)]
    if len(layer) < 3:
        return []
    angle, centre, half = seat_frame(layer[:, :2])
    high = points[points[:, 2] > height + BACKREST_RISE]
    local = (high[:, :2] - centre) @ rotation_2d(-angle).T / half  # [K,2] seat coordinates
    found = []
    for axis, sign, side_azimuth in ((0, -1.0, 180.0), (0, 1.0, 0.0), (1, -1.0, 270.0), (1, 1.0, 90.0)):
        out, along = sign * local[:, axis], local[:, 1 - axis]
        band = (out > BAND_INNER) & (out < BAND_OUTER) & (np.abs(along) < BAND_ALONG)
        if band.sum() / len(points) < MIN_SLAB_AREA:
            continue
        span, _ = np.histogram(along[band], bins=SPAN_BINS, range=(-1.0, 1.0))
        if (span / len(points) >= MIN_SPAN_BIN_AREA).sum() >= MIN_SPAN_BINS:
            found.append((side_azimuth + math.degrees(angle)) % 360.0)
    return [a - 360.0 if a > 180.0 else a for a in found]
