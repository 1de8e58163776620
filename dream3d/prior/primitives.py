"""Geometry of the bundled world's shapes: six primitives (docs/bundled-prior.md) and two
objects with a front (docs/bundled-world-v2.md).

World units, right-handed, +z up; every shape's bounding box is centred on the origin.

| shape    | definition                                                   |
|----------|--------------------------------------------------------------|
| sphere   | radius 0.5                                                   |
| cube     | edge 0.8, axis-aligned                                       |
| cylinder | radius 0.4, height 0.9, axis z                               |
| cone     | base radius 0.5, height 1.0, apex at +z (base at z = -0.5)   |
| torus    | major radius 0.4, minor radius 0.15, axis z (lying flat)     |
| pyramid  | square base, edge 0.9, axis-aligned, height 0.9, apex at +z  |
| mug      | cylinder r 0.32, h 0.8, axis z; half-torus handle on +y       |
| chair    | seat, four legs, backrest at -x (the front is +x)             |

The mug's handle is a torus (major radius 0.18, minor 0.05) in the yz-plane centred on the
body's surface at y = 0.32; the spec keeps its half with y >= 0.32. That cut plane touches
the round body only along x = 0, leaving a sliver of a gap (up to 0.004) beside it, so the
cut here is at y >= 0.30: the extra piece lies inside the body except for that sliver, and
the handle meets the body as a solid. The mug's bounding box is centred, so everything
moves by -0.115 in y.

Public API (all functions take ``points [N,3]`` float tensors in world space):

- ``sdf(shape, points) -> [N]``: signed distance, negative inside. Exact for sphere,
  cube, cylinder, cone and torus. For the pyramid it is exact inside and on the surface
  and a lower bound outside (the largest signed distance to its five face planes), so it
  is still safe for sphere tracing and its zero level set is the exact surface. The mug
  and the chair are unions (the minimum) of parts; the union of exact distances is exact
  outside and a bound inside, and the half-torus's cut is a bound too.
- ``inside(shape, points) -> bool[N]``: exact point-in-solid test.
- ``normals(shape, points) -> [N,3]``: outward unit normals (the normalised SDF gradient,
  by central differences), meaningful on or near the surface.
- ``trace(shape, origins, directions) -> (t [N], hit bool[N])``: first ray-surface
  intersection by sphere tracing (Hart 1996, "Sphere tracing").

Sphere tracing needs only a Lipschitz-1 bound of the distance: J. C. Hart, "Sphere
tracing: a geometric method for the antialiased ray tracing of implicit surfaces",
The Visual Computer 12(10), 1996.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from dream3d.prior.catalog import SHAPES

SPHERE_RADIUS = 0.5
CUBE_HALF_EDGE = 0.4
CYLINDER_RADIUS, CYLINDER_HALF_HEIGHT = 0.4, 0.45
CONE_RADIUS, CONE_HALF_HEIGHT = 0.5, 0.5
TORUS_MAJOR, TORUS_MINOR = 0.4, 0.15
PYRAMID_HALF_EDGE, PYRAMID_HALF_HEIGHT = 0.45, 0.45
MUG_RADIUS, MUG_HALF_HEIGHT = 0.32, 0.40
MUG_HANDLE_MAJOR, MUG_HANDLE_MINOR, MUG_HANDLE_CUT = 0.18, 0.05, 0.30
MUG_CENTRE_Y = 0.115
"""Centre of the mug's uncentred bounding box (y from -0.32 to 0.55)."""
CHAIR_SEAT_HALF, CHAIR_SEAT_HALF_THICKNESS = 0.35, 0.05
CHAIR_LEG_HALF, CHAIR_LEG_INSET, CHAIR_FLOOR = 0.04, 0.02, -0.50
CHAIR_BACK_THICKNESS, CHAIR_BACK_TOP = 0.08, 0.50

BOUNDING_RADIUS = 0.8
"""Every shape lies inside the origin-centred sphere of this radius (the pyramid's base
corners, the farthest points of all shapes, are at 0.779; the chair's are at 0.704)."""

BOUNDS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "sphere": ((-0.5, -0.5, -0.5), (0.5, 0.5, 0.5)),
    "cube": ((-0.4, -0.4, -0.4), (0.4, 0.4, 0.4)),
    "cylinder": ((-0.4, -0.4, -0.45), (0.4, 0.4, 0.45)),
    "cone": ((-0.5, -0.5, -0.5), (0.5, 0.5, 0.5)),
    "torus": ((-0.55, -0.55, -0.15), (0.55, 0.55, 0.15)),
    "pyramid": ((-0.45, -0.45, -0.45), (0.45, 0.45, 0.45)),
    "mug": ((-0.32, -0.435, -0.4), (0.32, 0.435, 0.4)),
    "chair": ((-0.35, -0.35, -0.5), (0.35, 0.35, 0.5)),
}
"""Axis-aligned bounding box ``(min xyz, max xyz)`` of each primitive."""


def _radial(points: Tensor) -> tuple[Tensor, Tensor]:
    """Distance from the z axis ``r [N]`` and height ``z [N]``."""
    return points[:, :2].norm(dim=-1), points[:, 2]


def _box2(a: Tensor, b: Tensor) -> Tensor:
    """Exact signed distance of a 2D rectangle from per-axis offsets ``|p| - half``."""
    outside = torch.stack([a.clamp_min(0.0), b.clamp_min(0.0)], -1).norm(dim=-1)
    return outside + torch.maximum(a, b).clamp_max(0.0)


def _segment_distance(p: Tensor, a: tuple[float, float], b: tuple[float, float]) -> Tensor:
    """Distance ``[N]`` from 2D points ``p [N,2]`` to the segment ``a``-``b``."""
    a_t = torch.tensor(a, dtype=p.dtype, device=p.device)
    ab = torch.tensor(b, dtype=p.dtype, device=p.device) - a_t
    h = ((p - a_t) @ ab / ab.dot(ab)).clamp(0.0, 1.0)  # [N]
    return (p - a_t - h[:, None] * ab).norm(dim=-1)


def sdf_sphere(points: Tensor) -> Tensor:
    return points.norm(dim=-1) - SPHERE_RADIUS


def sdf_cube(points: Tensor) -> Tensor:
    q = points.abs() - CUBE_HALF_EDGE  # [N,3]
    return q.clamp_min(0.0).norm(dim=-1) + q.amax(dim=-1).clamp_max(0.0)


def sdf_cylinder(points: Tensor) -> Tensor:
    r, z = _radial(points)
    return _box2(r - CYLINDER_RADIUS, z.abs() - CYLINDER_HALF_HEIGHT)


def sdf_cone(points: Tensor) -> Tensor:
    """Exact: the (r, z) half-plane distance to the base and slanted edges of the profile."""
    r, z = _radial(points)
    p = torch.stack([r, z], -1)  # [N,2]
    base = _segment_distance(p, (0.0, -CONE_HALF_HEIGHT), (CONE_RADIUS, -CONE_HALF_HEIGHT))
    side = _segment_distance(p, (CONE_RADIUS, -CONE_HALF_HEIGHT), (0.0, CONE_HALF_HEIGHT))
    distance = torch.minimum(base, side)
    return torch.where(_inside_cone(r, z), -distance, distance)


def sdf_torus(points: Tensor) -> Tensor:
    r, z = _radial(points)
    return torch.stack([r - TORUS_MAJOR, z], -1).norm(dim=-1) - TORUS_MINOR


def _pyramid_planes(dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """Outward unit normals ``[5,3]`` and offsets ``[5]`` (``n.p <= c`` inside)."""
    h, hz = PYRAMID_HALF_EDGE, PYRAMID_HALF_HEIGHT
    slope = math.hypot(2.0 * hz, h)  # side faces rise 2*hz over a run of h
    side = [(2.0 * hz / slope * sx, 2.0 * hz / slope * sy, h / slope) for sx, sy in ((1, 0), (-1, 0), (0, 1), (0, -1))]
    normals = torch.tensor(side + [(0.0, 0.0, -1.0)], dtype=dtype, device=device)
    apex = torch.tensor([0.0, 0.0, hz], dtype=dtype, device=device)
    offsets = normals[:4] @ apex  # every side plane passes through the apex
    offsets = torch.cat([offsets, torch.tensor([hz], dtype=dtype, device=device)])
    return normals, offsets


def sdf_pyramid(points: Tensor) -> Tensor:
    """Largest signed distance to the five face planes (exact inside, a bound outside)."""
    normals, offsets = _pyramid_planes(points.dtype, points.device)
    return (points @ normals.T - offsets).amax(dim=-1)


def _sdf_box(points: Tensor, low: tuple[float, float, float], high: tuple[float, float, float]) -> Tensor:
    """Exact signed distance to the axis-aligned box ``[low, high]``."""
    lo = torch.tensor(low, dtype=points.dtype, device=points.device)
    hi = torch.tensor(high, dtype=points.dtype, device=points.device)
    q = (points - 0.5 * (lo + hi)).abs() - 0.5 * (hi - lo)
    return q.clamp_min(0.0).norm(dim=-1) + q.amax(dim=-1).clamp_max(0.0)


def _mug_frame(points: Tensor) -> Tensor:
    """``points`` relative to the mug body's axis."""
    return points + torch.tensor([0.0, MUG_CENTRE_Y, 0.0], dtype=points.dtype, device=points.device)


def sdf_mug_body(points: Tensor) -> Tensor:
    """The mug's body alone (its cylinder, where the mug has it), without the handle."""
    r, z = _radial(_mug_frame(points))
    return _box2(r - MUG_RADIUS, z.abs() - MUG_HALF_HEIGHT)


def sdf_mug(points: Tensor) -> Tensor:
    """The body (a cylinder) united with the handle (half a torus whose axis is x)."""
    p = _mug_frame(points)
    z = p[:, 2]
    body = sdf_mug_body(points)
    y = p[:, 1] - MUG_RADIUS  # the handle's centre is on the body's surface
    ring = torch.stack([torch.stack([y, z], -1).norm(dim=-1) - MUG_HANDLE_MAJOR, p[:, 0]], -1).norm(dim=-1)
    handle = torch.maximum(ring - MUG_HANDLE_MINOR, MUG_HANDLE_CUT - p[:, 1])
    return torch.minimum(body, handle)


def chair_parts() -> list[tuple[tuple[float, float, float], tuple[float, float, float]]]:
    """The chair's boxes ``(low, high)``: the seat, four legs, the backrest."""
    s, t = CHAIR_SEAT_HALF, CHAIR_SEAT_HALF_THICKNESS
    parts = [((-s, -s, -t), (s, s, t))]
    near, far = s - CHAIR_LEG_INSET - 2 * CHAIR_LEG_HALF, s - CHAIR_LEG_INSET
    for sx in (-1.0, 1.0):
        for sy in (-1.0, 1.0):
            xs, ys = sorted((sx * near, sx * far)), sorted((sy * near, sy * far))
            parts.append(((xs[0], ys[0], CHAIR_FLOOR), (xs[1], ys[1], -t)))
    parts.append(((-s, -s, t), (-s + CHAIR_BACK_THICKNESS, s, CHAIR_BACK_TOP)))
    return parts


def sdf_chair(points: Tensor) -> Tensor:
    """The union of the seat, the legs and the backrest."""
    return torch.stack([_sdf_box(points, low, high) for low, high in chair_parts()], -1).amin(dim=-1)


def _inside_cone(r: Tensor, z: Tensor) -> Tensor:
    radius_at_z = CONE_RADIUS * (CONE_HALF_HEIGHT - z) / (2.0 * CONE_HALF_HEIGHT)
    return (z >= -CONE_HALF_HEIGHT) & (z <= CONE_HALF_HEIGHT) & (r <= radius_at_z)


SDFS: dict[str, Callable[[Tensor], Tensor]] = {
    "sphere": sdf_sphere,
    "cube": sdf_cube,
    "cylinder": sdf_cylinder,
    "cone": sdf_cone,
    "torus": sdf_torus,
    "pyramid": sdf_pyramid,
    "mug": sdf_mug,
    "chair": sdf_chair,
}
"""Signed distance function of each shape, ``points [N,3] -> [N]``, negative inside."""


def _check(shape: str) -> None:
    if shape not in SDFS:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")


def sdf(shape: str, points: Tensor) -> Tensor:
    """Signed distance ``[N]`` of ``points [N,3]`` to ``shape`` (negative inside)."""
    _check(shape)
    return SDFS[shape](points)


def inside(shape: str, points: Tensor) -> Tensor:
    """Whether each of ``points [N,3]`` lies in the closed solid ``shape``, ``bool[N]``."""
    return sdf(shape, points) <= 0.0


def normals(shape: str, points: Tensor, eps: float = 1e-4) -> Tensor:
    """Outward unit normals ``[N,3]``: the central-difference gradient of the SDF."""
    _check(shape)
    offsets = torch.eye(3, dtype=points.dtype, device=points.device) * eps  # [3,3]
    plus = torch.stack([SDFS[shape](points + o) for o in offsets], -1)  # [N,3]
    minus = torch.stack([SDFS[shape](points - o) for o in offsets], -1)  # [N,3]
    gradient = plus - minus
    return gradient / gradient.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def trace(
    shape: str,
    origins: Tensor,
    directions: Tensor,
    max_steps: int = 128,
    epsilon: float = 1e-4,
) -> tuple[Tensor, Tensor]:
    """First intersection of rays with ``shape`` by sphere tracing (Hart 1996).

    ``origins``/``directions`` are ``[N,3]`` (directions of unit length). Returns the ray
    parameter ``t [N]`` (``inf`` where nothing is hit) and ``hit bool[N]``. Rays start where
    they enter the bounding sphere (radius ``BOUNDING_RADIUS``), and only rays that are
    still marching are evaluated, so misses cost a single step.
    """
    _check(shape)
    n = origins.shape[0]
    # Entry into the bounding sphere: |o + t d|^2 = R^2.
    b = (origins * directions).sum(-1)  # [N]
    c = (origins * origins).sum(-1) - BOUNDING_RADIUS**2
    disc = b * b - c
    t_far = -b + disc.clamp_min(0.0).sqrt()
    t = (-b - disc.clamp_min(0.0).sqrt()).clamp_min(0.0)  # [N]
    t_hit = torch.full((n,), math.inf, dtype=origins.dtype, device=origins.device)
    active = torch.nonzero((disc > 0.0) & (t_far > 0.0)).squeeze(-1)  # [M]
    t = t[active]
    o, d, t_end = origins[active], directions[active], t_far[active]
    for _ in range(max_steps):
        if active.numel() == 0:
            break
        distance = SDFS[shape](o + t[:, None] * d)  # [M]
        converged = distance < epsilon
        t_hit[active[converged]] = t[converged]
        t = t + distance.clamp_min(0.0)
        keep = ~converged & (t < t_end)
        active, o, d, t, t_end = active[keep], o[keep], d[keep], t[keep], t_end[keep]
    return t_hit, torch.isfinite(t_hit)


def volume(shape: str) -> float:
    """Closed-form volume of ``shape`` (useful to check meshes and voxelisations)."""
    _check(shape)
    values = {
        "sphere": 4.0 / 3.0 * math.pi * SPHERE_RADIUS**3,
        "cube": (2.0 * CUBE_HALF_EDGE) ** 3,
        "cylinder": math.pi * CYLINDER_RADIUS**2 * 2.0 * CYLINDER_HALF_HEIGHT,
        "cone": math.pi * CONE_RADIUS**2 * 2.0 * CONE_HALF_HEIGHT / 3.0,
        "torus": 2.0 * math.pi**2 * TORUS_MAJOR * TORUS_MINOR**2,
        "pyramid": (2.0 * PYRAMID_HALF_EDGE) ** 2 * 2.0 * PYRAMID_HALF_HEIGHT / 3.0,
        # the body, plus half a torus (pi^2 R r^2); the handle's cut ends overlap the body only
        # inside it, except for a sliver of about 1e-6 (spec: cut at y >= 0.32, no overlap)
        "mug": math.pi * MUG_RADIUS**2 * 2.0 * MUG_HALF_HEIGHT + math.pi**2 * MUG_HANDLE_MAJOR * MUG_HANDLE_MINOR**2,
        "chair": sum((h[0] - lo[0]) * (h[1] - lo[1]) * (h[2] - lo[2]) for lo, h in chair_parts()),
    }
    return values[shape]
