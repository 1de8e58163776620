"""Back-projection of rendered Gaussians onto a UV-unwrapped mesh recovers known colours."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import trimesh

from dream3d.export.backproject import (
    BackprojectConfig,
    backproject_colours,
    backproject_texture,
    backprojection_cameras,
)
from dream3d.export.texels import texel_surface_points
from dream3d.export.types import Mesh
from dream3d.export.uv import unwrap_uv
from dream3d.scene.gaussians import GaussianScene

RADIUS = 0.4


pytestmark = pytest.mark.usefixtures("one_thread")


def colour_of(points: torch.Tensor) -> torch.Tensor:
    """A smooth colour that differs on opposite sides of the sphere."""
    d = points / points.norm(dim=-1, keepdim=True)
    return torch.stack([0.5 + 0.4 * d[:, 0], 0.5 + 0.4 * d[:, 1], 0.5 + 0.4 * d[:, 2]], -1)


def sphere_of_gaussians(n: int = 3000) -> GaussianScene:
    """Gaussians on a Fibonacci lattice of the sphere, coloured by ``colour_of``."""
    i = torch.arange(n, dtype=torch.float32) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = math.pi * (3.0 - math.sqrt(5.0)) * i
    r = (1.0 - z * z).sqrt()
    means = RADIUS * torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], -1)
    spacing = math.sqrt(4 * math.pi * RADIUS**2 / n)
    log_scales = torch.full((n, 3), math.log(0.8 * spacing))
    quats = torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(n, 1)
    return GaussianScene.from_tensors(means, log_scales, quats, torch.full((n,), 3.0), colour_of(means))


def test_rig_has_rings_and_poles():
    cams = backprojection_cameras(BackprojectConfig(azimuths=6, elevations=(-20.0, 10.0, 40.0)))
    assert len(cams) == 20
    assert torch.allclose(cams.positions()[-2], torch.tensor([0.0, 0.0, 2.5]), atol=1e-5)
    assert torch.allclose(cams.positions()[-1], torch.tensor([0.0, 0.0, -2.5]), atol=1e-5)


def test_backprojection_recovers_known_colours():
    torch.manual_seed(0)
    ico = trimesh.creation.icosphere(subdivisions=3, radius=RADIUS)
    mesh = unwrap_uv(Mesh(np.asarray(ico.vertices, np.float32), np.asarray(ico.faces, np.int64)), texture_size=128)
    texels = texel_surface_points(mesh.vertices, mesh.faces, mesh.uvs, size=128, vertex_normals=mesh.normals)
    config = BackprojectConfig(resolution=128, views_per_batch=8)
    texture, seen = backproject_texture(sphere_of_gaussians(), texels, config)
    assert texture.shape == (128, 128, 3)
    assert seen[texels.mask].float().mean() > 0.98  # the rig sees almost the whole sphere
    expected = colour_of(texels.points[texels.mask])
    error = (texture[texels.mask] - expected).abs().mean()
    assert error < 0.05, error


def test_unseen_texels_are_filled_from_neighbours():
    ico = trimesh.creation.icosphere(subdivisions=2, radius=RADIUS)
    mesh = unwrap_uv(Mesh(np.asarray(ico.vertices, np.float32), np.asarray(ico.faces, np.int64)), texture_size=64)
    texels = texel_surface_points(mesh.vertices, mesh.faces, mesh.uvs, size=64, vertex_normals=mesh.normals)
    # only a ring at the equator: the poles are never seen, yet get colours, all in [0,1]
    config = BackprojectConfig(azimuths=4, elevations=(0.0,), poles=False, resolution=96, min_cosine=0.7)
    texture, seen = backproject_texture(sphere_of_gaussians(), texels, config)
    assert 0 < seen.sum() < texels.mask.sum()
    assert texture.min() >= 0 and texture.max() <= 1
    assert (texture[texels.mask & ~seen].sum(-1) > 0).all()


def test_occluded_texels_are_rejected():
    """A point behind the sphere projects onto the sphere's front: the depth test drops it."""
    scene = sphere_of_gaussians()
    # one view at azimuth -180 (camera on -x); both normals face it, so only depth decides
    points = torch.tensor([[RADIUS, 0.0, 0.0], [-RADIUS, 0.0, 0.0]])
    normals = torch.tensor([[-1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    config = BackprojectConfig(azimuths=1, elevations=(0.0,), poles=False, resolution=96)
    colours, weights = backproject_colours(scene, points, normals, config)
    assert weights[0] == 0 and weights[1] > 0
    assert torch.allclose(colours[1], colour_of(points[1:2])[0], atol=0.05)
    no_depth_test = BackprojectConfig(azimuths=1, elevations=(0.0,), poles=False, resolution=96, depth_tolerance=1e9)
    _, weights = backproject_colours(scene, points, normals, no_depth_test)
    assert weights[0] > 0
