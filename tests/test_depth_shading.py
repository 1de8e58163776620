"""Turntable shading from the depth map: a sphere's normals and Lambert's law, in closed form."""
from __future__ import annotations

import torch

from dream3d.cameras import orbit_cameras
from dream3d.render.depth_shading import depth_normals, shade
from dream3d.render.light import AMBIENT, DIFFUSE, world_light
from dream3d.render.types import Render


def sphere_render(radius: float = 0.6, size: int = 96, albedo=(0.8, 0.2, 0.1)) -> tuple[Render, object, torch.Tensor]:
    """An exact render of a sphere at the origin over white: depth along the ray, alpha 0/1."""
    cameras = orbit_cameras(2, elevation=20.0, height=size, width=size)
    origins, directions = cameras.rays()
    b = (origins * directions).sum(-1)
    c = (origins * origins).sum(-1) - radius**2
    disc = b * b - c
    hit = disc > 0
    t = torch.where(hit, -b - disc.clamp_min(0).sqrt(), torch.zeros_like(b))
    points = origins + directions * t[..., None]
    alpha = hit.float()[..., None]
    colour = torch.tensor(albedo)
    rgb = alpha * colour + (1 - alpha) * 1.0
    return Render(rgb=rgb, alpha=alpha, depth=t[..., None] * alpha), cameras, points / radius


def test_normals_from_depth_match_the_sphere():
    render, cameras, true_normals = sphere_render()
    normals = depth_normals(render.depth, render.alpha, cameras)
    inside = render.alpha[..., 0] > 0
    cosine = (normals * true_normals).sum(-1)[inside]
    # the depth is smoothed (a volume render's steps with its samples): near the rim, normals bend a little
    assert cosine.median() > 0.999 and (cosine > 0.98).float().mean() > 0.93 and cosine.min() > 0.9


def test_lambertian_shading_is_albedo_times_ambient_plus_diffuse_n_dot_l():
    render, cameras, true_normals = sphere_render()
    shaded = shade(render, cameras, "lambertian")
    light = world_light(cameras.c2w)[:, None, None, :]
    expected = torch.tensor([0.8, 0.2, 0.1]) * (AMBIENT + DIFFUSE * (true_normals * light).sum(-1, keepdim=True).clamp_min(0))
    inside = render.alpha[..., 0] > 0
    assert (shaded[inside] - expected[inside]).abs().median() < 2e-3
    assert torch.equal(shaded[~inside], render.rgb[~inside])  # the background stays white
    white = shade(render, cameras, "textureless")[inside]
    assert torch.allclose(white[:, 0], white[:, 1]) and white.max() <= 1.0
    assert shade(render, cameras, "albedo") is render.rgb
