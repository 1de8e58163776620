"""Silhouettes read from a density grid: the opacity formula, agreement with the volume renderer,
and what ``export.silhouette.carve`` keeps."""
from __future__ import annotations

import math

import numpy as np
import torch

from dream3d.export.backproject import BackprojectConfig
from dream3d.export.config import ExportConfig
from dream3d.export.density_silhouette import density_silhouettes, ray_opacity
from dream3d.export.grid import DensityGrid, density_grid
from dream3d.export.pipeline import extract_mesh
from dream3d.export.silhouette import SilhouetteConfig


def _box_grid(resolution: int, half: float, sigma: float) -> DensityGrid:
    axis = np.linspace(-1.0, 1.0, resolution, dtype=np.float32)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    inside = (np.abs(x) < half) & (np.abs(y) < half) & (np.abs(z) < half)
    return DensityGrid(np.where(inside, sigma, 0.0).astype(np.float32), 1.0)


def test_ray_opacity_is_one_minus_exp_of_the_density_integral():
    """Through a box of density 2 and side 1, along each axis and off-centre: alpha = 1 - exp(-2 L),
    L the chord (1, up to the trilinear ramp of one spacing at each face); a ray that misses has 0."""
    grid = _box_grid(64, 0.5, 2.0)
    values = torch.from_numpy(grid.values)
    spacing = grid.spacing
    origins = torch.tensor([[0.0, 0.0, 3.0], [3.0, 0.1, 0.2], [0.3, -3.0, 0.0], [0.9, 0.0, 3.0]])
    directions = torch.tensor([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]])
    alpha = ray_opacity(values, grid.radius, origins, directions)
    low, high = 1 - math.exp(-2.0 * (1 - spacing)), 1 - math.exp(-2.0 * (1 + spacing))
    assert all(low <= float(a) <= high for a in alpha[:3]), alpha
    assert float(alpha[3]) == 0.0
    # A diagonal ray through the centre crosses sqrt(3) of the box.
    diagonal = torch.tensor([[-1.0, -1.0, -1.0]]) / math.sqrt(3.0)
    corner = ray_opacity(values, grid.radius, -3.0 * diagonal, diagonal)
    assert abs(float(corner) - (1 - math.exp(-2.0 * math.sqrt(3.0)))) < 0.03


class _TorusAndRod:
    """A torus in the xy-plane (radii 0.4 and 0.25, density 40) and a thin faint rod along the x axis
    that sticks out of its tube from x = 0.65 to 0.9 (radius 0.08, density 4: above the density
    level 1, but under half opacity seen across it: 1 - exp(-4 x 0.16) = 0.47)."""

    def density(self, points: torch.Tensor) -> torch.Tensor:
        ring = torch.stack([points[:, :2].norm(dim=-1) - 0.4, points[:, 2]], -1).norm(dim=-1)
        rod = (points[:, 1:].norm(dim=-1) < 0.08) & (points[:, 0] > 0.5) & (points[:, 0] < 0.9)
        torus = torch.where(ring < 0.25, 40.0, 0.0)
        return torch.where(rod & (torus == 0), torch.full_like(torus, 4.0), torus)

    def albedo(self, points: torch.Tensor) -> torch.Tensor:
        return torch.full((len(points), 3), 0.5)


def _rig(resolution: int = 48) -> SilhouetteConfig:
    return SilhouetteConfig(enabled=True, rig=BackprojectConfig(resolution=resolution))


def test_grid_silhouettes_match_the_volume_renderer_of_a_nerf():
    """The opacity masks read from a 96^3 grid agree with the NeRF renderer's at the rig's views:
    within 0.05 at every pixel, and an IoU of the half-opacity foreground of at least 0.98 in every view."""
    from dream3d.export.silhouette import render_silhouettes
    from test_solid_surface import _torus_nerf

    nerf = _torus_nerf()
    config = _rig(48)
    grid = density_grid(nerf.field, 96, 1.0, progress=False)
    from_grid = density_silhouettes(grid, config).masks[:, 0]
    rendered = render_silhouettes(lambda cameras, background: nerf.renderer(cameras, "albedo"), config).masks[:, 0]
    assert float((from_grid - rendered).abs().max()) < 0.05
    inside_grid, inside_rendered = from_grid >= 0.5, rendered >= 0.5
    iou = (inside_grid & inside_rendered).sum((1, 2)).float() / (inside_grid | inside_rendered).sum((1, 2)).float()
    assert float(iou.min()) >= 0.98, iou


def test_carving_cuts_a_faint_thin_part_and_bounding_the_closing_alone_keeps_it():
    """``carve: true`` drops occupied voxels that some view sees under half opacity, so the faint rod
    goes; ``carve: false`` keeps every occupied voxel and only bounds the closing."""
    scene = _TorusAndRod()

    def rod_faces(carve: bool) -> int:
        silhouettes = _rig()
        silhouettes.carve = carve
        config = ExportConfig(resolution=64, threshold=1.0, surface="solid", close_voxels=2.0, open_voxels=0.0,
                              progress=False, silhouette=silhouettes)
        grid = density_grid(scene, config.resolution, config.bounds_radius, progress=False)
        mesh, _ = extract_mesh(scene, config, silhouettes=density_silhouettes(grid, silhouettes))
        centres = mesh.vertices[mesh.faces].mean(1)
        return int((centres[:, 0] > 0.75).sum())  # the torus ends at x = 0.65, the rod at 0.9

    assert rod_faces(carve=False) > 0
    assert rod_faces(carve=True) == 0
