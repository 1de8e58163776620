"""Cameras that orbit the origin, and the samplers that draw them.

World convention (docs/bundled-prior.md): right-handed, +z up, objects centred on the
origin inside the unit sphere. Cameras look at the origin with world-up +z.
``elevation`` is the angle above the xy-plane, ``azimuth`` 0 is the +x axis and grows
towards +y. All angles in this module are in degrees.

Camera frames follow the OpenCV convention used by gsplat: x right, y down, z forward
(into the scene). ``c2w`` maps camera coordinates to world coordinates, and pixel
``(row i, col j)`` has its centre at ``u = j + 0.5, v = i + 0.5``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

VIEW_SUFFIXES = {
    "front": ", front view",
    "side": ", side view",
    "back": ", back view",
    "overhead": ", overhead view",
}


def view_label(elevation_deg: float, azimuth_deg: float) -> str:
    """The view label of one camera, as the spec defines it."""
    if elevation_deg > 60.0:
        return "overhead"
    azimuth = (azimuth_deg + 180.0) % 360.0 - 180.0  # wrap to [-180, 180)
    if abs(azimuth) < 45.0:
        return "front"
    if abs(azimuth) > 135.0:
        return "back"
    return "side"


def look_at_origin(position: Tensor) -> Tensor:
    """OpenCV camera-to-world matrices for cameras at ``position [B,3]`` looking at 0.

    Returns ``[B,4,4]``. World-up is +z; a camera straight above the origin uses +x as
    its fallback up direction so the frame stays defined.
    """
    forward = -position / position.norm(dim=-1, keepdim=True)  # camera +z
    world_up = torch.tensor([0.0, 0.0, 1.0], dtype=position.dtype, device=position.device)
    world_up = world_up.expand_as(forward)
    right = torch.cross(forward, world_up, dim=-1)  # camera +x
    degenerate = right.norm(dim=-1) < 1e-6
    if degenerate.any():
        fallback = torch.tensor([1.0, 0.0, 0.0], dtype=position.dtype, device=position.device)
        right[degenerate] = torch.cross(forward[degenerate], fallback.expand_as(forward[degenerate]), dim=-1)
    right = right / right.norm(dim=-1, keepdim=True)
    down = torch.cross(forward, right, dim=-1)  # camera +y
    c2w = torch.zeros(position.shape[0], 4, 4, dtype=position.dtype, device=position.device)
    c2w[:, :3, 0] = right
    c2w[:, :3, 1] = down
    c2w[:, :3, 2] = forward
    c2w[:, :3, 3] = position
    c2w[:, 3, 3] = 1.0
    return c2w


def spherical_to_position(elevation_deg: Tensor, azimuth_deg: Tensor, distance: Tensor) -> Tensor:
    """World positions ``[B,3]`` of cameras given in spherical coordinates (degrees)."""
    elevation = torch.deg2rad(elevation_deg)
    azimuth = torch.deg2rad(azimuth_deg)
    return torch.stack(
        [
            distance * torch.cos(elevation) * torch.cos(azimuth),
            distance * torch.cos(elevation) * torch.sin(azimuth),
            distance * torch.sin(elevation),
        ],
        dim=-1,
    )


@dataclass
class Cameras:
    """A batch of pinhole cameras orbiting the origin."""

    c2w: Tensor  # [B,4,4] OpenCV camera-to-world
    fovy: Tensor  # [B] vertical field of view, degrees
    elevation: Tensor  # [B] degrees
    azimuth: Tensor  # [B] degrees
    distance: Tensor  # [B]
    height: int
    width: int

    @classmethod
    def from_spherical(
        cls,
        elevation: Tensor,
        azimuth: Tensor,
        distance: Tensor,
        fovy: Tensor | float,
        height: int,
        width: int,
    ) -> "Cameras":
        elevation, azimuth, distance = (torch.as_tensor(x, dtype=torch.float32) for x in (elevation, azimuth, distance))
        fovy = torch.as_tensor(fovy, dtype=torch.float32).expand_as(elevation).clone()
        c2w = look_at_origin(spherical_to_position(elevation, azimuth, distance))
        return cls(c2w, fovy, elevation, azimuth, distance, height, width)

    def __len__(self) -> int:
        return self.c2w.shape[0]

    def __getitem__(self, index: int | slice | list[int] | Tensor) -> "Cameras":
        """A sub-batch (an int keeps the batch dimension; a list or tensor selects)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Cameras(
            self.c2w[index], self.fovy[index], self.elevation[index], self.azimuth[index],
            self.distance[index], self.height, self.width,
        )

    @property
    def device(self) -> torch.device:
        return self.c2w.device

    def to(self, device: torch.device | str) -> "Cameras":
        return Cameras(
            self.c2w.to(device), self.fovy.to(device), self.elevation.to(device),
            self.azimuth.to(device), self.distance.to(device), self.height, self.width,
        )

    def with_resolution(self, height: int, width: int) -> "Cameras":
        """The same cameras rendering at another resolution (same field of view)."""
        return Cameras(self.c2w, self.fovy, self.elevation, self.azimuth, self.distance, height, width)

    def focal(self) -> Tensor:
        """Focal length in pixels, ``[B]``: ``f = (H/2) / tan(fovy/2)``."""
        return 0.5 * self.height / torch.tan(0.5 * torch.deg2rad(self.fovy))

    def intrinsics(self) -> Tensor:
        """OpenCV intrinsics ``K [B,3,3]`` in pixels, principal point at the image centre."""
        focal = self.focal()
        K = torch.zeros(len(self), 3, 3, dtype=self.c2w.dtype, device=self.device)
        K[:, 0, 0] = focal
        K[:, 1, 1] = focal
        K[:, 0, 2] = 0.5 * self.width
        K[:, 1, 2] = 0.5 * self.height
        K[:, 2, 2] = 1.0
        return K

    def w2c(self) -> Tensor:
        """World-to-camera matrices ``[B,4,4]`` (gsplat's ``viewmats``)."""
        return torch.linalg.inv(self.c2w)

    def positions(self) -> Tensor:
        """Camera centres in world space, ``[B,3]``."""
        return self.c2w[:, :3, 3]

    def rays(self) -> tuple[Tensor, Tensor]:
        """Ray origins and unit directions through every pixel centre, each ``[B,H,W,3]``."""
        rows = torch.arange(self.height, dtype=self.c2w.dtype, device=self.device) + 0.5
        cols = torch.arange(self.width, dtype=self.c2w.dtype, device=self.device) + 0.5
        v, u = torch.meshgrid(rows, cols, indexing="ij")  # [H,W]
        focal = self.focal()[:, None, None]
        x = (u - 0.5 * self.width) / focal
        y = (v - 0.5 * self.height) / focal
        directions_cam = torch.stack([x, y, torch.ones_like(x)], dim=-1)  # [B,H,W,3]
        directions = torch.einsum("bij,bhwj->bhwi", self.c2w[:, :3, :3], directions_cam)
        directions = directions / directions.norm(dim=-1, keepdim=True)
        origins = self.positions()[:, None, None, :].expand_as(directions)
        return origins, directions

    def project(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """Project world points ``[B,N,3]`` to pixels ``[B,N,2]`` (u, v) and depth ``[B,N]``."""
        w2c = self.w2c()
        cam = torch.einsum("bij,bnj->bni", w2c[:, :3, :3], points) + w2c[:, None, :3, 3]
        depth = cam[..., 2]
        K = self.intrinsics()
        uv = cam[..., :2] / depth.clamp_min(1e-8)[..., None]
        uv = uv * torch.stack([K[:, 0, 0], K[:, 1, 1]], -1)[:, None] + K[:, None, :2, 2]
        return uv, depth

    def view_labels(self) -> list[str]:
        """``front``/``side``/``back``/``overhead`` per camera (docs/bundled-prior.md)."""
        return [view_label(float(e), float(a)) for e, a in zip(self.elevation, self.azimuth)]


@dataclass
class CameraSamplerConfig:
    """Random orbit cameras for training. Defaults are the bundled prior's dataset cameras."""

    elevation_range: tuple[float, float] = (-10.0, 60.0)
    """Elevation above the xy-plane, degrees, drawn uniformly."""
    azimuth_range: tuple[float, float] = (-180.0, 180.0)
    """Azimuth from +x towards +y, degrees, drawn uniformly in [low, high)."""
    distance_range: tuple[float, float] = (2.3, 2.7)
    """Distance of the camera from the origin, drawn uniformly."""
    fovy: float = 40.0
    """Vertical field of view, degrees."""
    batch_size: int = 1
    """Cameras per training step (with ``views`` > 1: objects per step, ``views`` cameras each)."""
    views: int = 1
    """Cameras per draw. 1: independent cameras. V > 1: MVDream's layout (``view_layout``): V
    cameras at azimuths a + k·360°/V around one random base camera, sharing its elevation and
    distance; a step then has ``batch_size * views`` cameras, the views of a draw adjacent."""
    height: int = 64
    """Render height in pixels."""
    width: int = 64
    """Render width in pixels."""


@dataclass
class CameraSampler:
    """Draws random orbit cameras; stateless apart from the generator it is given."""

    config: CameraSamplerConfig = field(default_factory=CameraSamplerConfig)

    def sample(self, step: int = 0, generator: torch.Generator | None = None, batch_size: int | None = None) -> Cameras:
        """Cameras for one training step. ``step`` is accepted for schedules that ramp."""
        cfg = self.config
        n = cfg.batch_size if batch_size is None else batch_size

        def uniform(low: float, high: float) -> Tensor:
            return low + (high - low) * torch.rand(n, generator=generator)

        elevation, azimuth, distance = uniform(*cfg.elevation_range), uniform(*cfg.azimuth_range), uniform(*cfg.distance_range)
        if cfg.views > 1:
            elevation, azimuth, distance = view_layout(elevation, azimuth, distance, cfg.views)
        return Cameras.from_spherical(elevation=elevation, azimuth=azimuth, distance=distance, fovy=cfg.fovy,
                                      height=cfg.height, width=cfg.width)


def view_layout(elevation: Tensor, azimuth: Tensor, distance: Tensor, views: int) -> tuple[Tensor, Tensor, Tensor]:
    """MVDream's camera layout (Shi et al. 2023, arXiv:2308.16512): each base camera
    ``[B]`` becomes ``views`` cameras ``[B·V]`` at azimuths ``a + k·360/V`` (k = 0..V-1, wrapped to
    [-180, 180)) with the base camera's elevation and distance; the views of one base are adjacent."""
    offsets = torch.arange(views, dtype=azimuth.dtype) * (360.0 / views)
    azimuths = (azimuth[:, None] + offsets[None, :] + 180.0) % 360.0 - 180.0  # [B,V]
    return elevation.repeat_interleave(views), azimuths.reshape(-1), distance.repeat_interleave(views)


def orbit_cameras(
    n_views: int,
    elevation: float = 15.0,
    distance: float = 2.5,
    fovy: float = 40.0,
    height: int = 64,
    width: int = 64,
    start_azimuth: float = -180.0,
) -> Cameras:
    """``n_views`` cameras evenly spaced in azimuth, for turntable videos and previews."""
    azimuth = start_azimuth + torch.arange(n_views, dtype=torch.float32) * (360.0 / n_views)
    return Cameras.from_spherical(
        elevation=torch.full((n_views,), float(elevation)),
        azimuth=azimuth,
        distance=torch.full((n_views,), float(distance)),
        fovy=fovy,
        height=height,
        width=width,
    )

