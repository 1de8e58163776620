"""The torch mesh rasteriser against independent ray-plane references."""
from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch
import trimesh

from dream3d.cameras import Cameras, orbit_cameras
from dream3d.optional import MissingAcceleratorError
from dream3d.render.mesh_raster import TexturedMesh, rasterize, rasterize_2d, rasterize_2d_naive, render_mesh

SIZE = 32


def camera_at_origin(size: int = SIZE, fovy: float = 60.0) -> Cameras:
    """One camera at the world origin, axes aligned with the world (looking along +z)."""
    zero = torch.zeros(1)
    return Cameras(torch.eye(4)[None], torch.tensor([fovy]), zero, zero, zero, size, size)


def quad(corner: list[float], edge_s: list[float], edge_t: list[float]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Parallelogram ``A + s E1 + t E2`` with ``uv = (s, t)``: vertices [4,3], faces [2,3], uvs [4,2]."""
    a, e1, e2 = (torch.tensor(x) for x in (corner, edge_s, edge_t))
    vertices = torch.stack([a, a + e1, a + e1 + e2, a + e2])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    uvs = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    return vertices, faces, uvs


def ray_plane_st(cameras: Cameras, corner, edge_s, edge_t) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: plane coordinates (s, t) ``[H,W,2]`` and camera depth ``[H,W]`` of the hit."""
    origins, dirs = cameras.rays()
    o, d = origins[0].numpy().astype(np.float64), dirs[0].numpy().astype(np.float64)
    a, e1, e2 = (np.asarray(x, dtype=np.float64) for x in (corner, edge_s, edge_t))
    # o + lam d = a + s e1 + t e2  ->  [e1 e2 -d] [s t lam]^T = o - a
    matrix = np.stack([np.broadcast_to(e1, d.shape), np.broadcast_to(e2, d.shape), -d], axis=-1)
    sol = np.linalg.solve(matrix, (o - a)[..., None])[..., 0]
    hit = o + sol[..., 2:3] * d
    w2c = np.linalg.inv(cameras.c2w[0].numpy().astype(np.float64))
    depth = hit @ w2c[2, :3] + w2c[2, 3]
    return sol[..., :2], depth


def bilinear(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Reference bilinear lookup, OBJ uv convention, texel centres, border clamp."""
    h, w = texture.shape[:2]
    x = np.clip(uv[..., 0] * w - 0.5, 0, w - 1)
    y = np.clip((1.0 - uv[..., 1]) * h - 0.5, 0, h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    top = texture[y0, x0] * (1 - fx) + texture[y0, x1] * fx
    bottom = texture[y1, x0] * (1 - fx) + texture[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def checkerboard(cells: int = 4, texels_per_cell: int = 2) -> torch.Tensor:
    """``[S,S,3]`` checkerboard, dark/light cells with distinct channels."""
    idx = torch.arange(cells * texels_per_cell) // texels_per_cell
    on = ((idx[:, None] + idx[None, :]) % 2).float()[..., None]
    return on * torch.tensor([0.9, 0.8, 0.1]) + (1 - on) * torch.tensor([0.1, 0.2, 0.7])


# A tilted quad: depth varies across it, so UVs need perspective correction.
TILTED = ([-0.8, -0.7, 1.6], [1.5, 0.1, 0.9], [0.2, 1.4, 0.6])


def test_tilted_checkerboard_quad_matches_ray_plane_reference():
    cameras = camera_at_origin()
    vertices, faces, uvs = quad(*TILTED)
    texture = checkerboard()
    render = render_mesh(TexturedMesh(vertices, faces, uvs=uvs, texture=texture), cameras, background=0.0)
    st, depth = ray_plane_st(cameras, *TILTED)
    margin = np.minimum(st, 1.0 - st).min(-1)  # >0 inside the quad
    covered = margin > 1e-4
    clear = np.abs(margin) > 1e-4  # pixel centres not on the quad's border
    alpha = render.alpha[0, ..., 0].numpy() > 0
    assert covered.sum() > 200
    np.testing.assert_array_equal(alpha[clear], covered[clear])
    expected = bilinear(texture.numpy(), st)
    np.testing.assert_allclose(render.rgb[0].numpy()[covered], expected[covered], atol=1e-4)
    np.testing.assert_allclose(render.depth[0, ..., 0].numpy()[covered], depth[covered], rtol=1e-5)
    assert (render.rgb[0].numpy()[~alpha] == 0).all()


def test_fronto_parallel_plane_depth_and_normal():
    cameras = camera_at_origin()
    vertices, faces, _ = quad([-1.0, -1.0, 2.5], [2.0, 0.0, 0.0], [0.0, 2.0, 0.0])
    render = render_mesh(TexturedMesh(vertices, faces), cameras)
    alpha = render.alpha[0, ..., 0] > 0
    # Half-width 1 at depth 2.5 with a 60 degree field of view covers a centred square.
    half_px = 1.0 / 2.5 * (0.5 * SIZE / math.tan(math.radians(30.0)))
    centres = torch.arange(SIZE) + 0.5 - SIZE / 2
    inside = centres.abs() < half_px
    assert torch.equal(alpha, inside[:, None] & inside[None, :])
    torch.testing.assert_close(render.depth[0, ..., 0][alpha], torch.full((int(alpha.sum()),), 2.5))
    assert (render.depth[0, ..., 0][~alpha] == 0).all()
    normal = render.normal[0][alpha]
    torch.testing.assert_close(normal.abs(), torch.tensor([0.0, 0.0, 1.0]).expand_as(normal))


def test_gradients_reach_texture_and_vertex_colours():
    cameras = camera_at_origin()
    vertices, faces, uvs = quad(*TILTED)
    texture = checkerboard().requires_grad_(True)
    render = render_mesh(TexturedMesh(vertices, faces, uvs=uvs, texture=texture), cameras)
    render.rgb.sum().backward()
    covered = float(render.alpha.sum())
    # Each covered pixel's bilinear weights sum to one, per channel.
    assert texture.grad is not None and torch.isfinite(texture.grad).all()
    assert math.isclose(float(texture.grad.sum()), 3 * covered, rel_tol=1e-4)

    colours = torch.rand(4, 3, requires_grad=True)
    render = render_mesh(TexturedMesh(vertices, faces, vertex_colors=colours), cameras)
    render.rgb.sum().backward()
    assert (colours.grad > 0).all()
    assert math.isclose(float(colours.grad.sum()), 3 * covered, rel_tol=1e-4)


def test_z_buffer_keeps_the_nearest_triangle_in_any_order():
    cameras = camera_at_origin()
    near_v, near_f, _ = quad([-0.5, -0.5, 2.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    far_v, far_f, _ = quad([-1.0, -1.0, 3.0], [2.0, 0.0, 0.0], [0.0, 2.0, 0.0])
    red, blue = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 1.0])
    for first, second in [((near_v, red), (far_v, blue)), ((far_v, blue), (near_v, red))]:
        vertices = torch.cat([first[0], second[0]])
        faces = torch.cat([near_f, near_f + 4])
        colours = torch.cat([first[1].expand(4, 3), second[1].expand(4, 3)])
        render = render_mesh(TexturedMesh(vertices, faces, vertex_colors=colours), cameras)
        centre = render.rgb[0, SIZE // 2, SIZE // 2]
        corner = render.rgb[0, SIZE // 2 - 8, SIZE // 2 - 8]
        torch.testing.assert_close(centre, red)
        torch.testing.assert_close(corner, blue)
        torch.testing.assert_close(render.depth[0, SIZE // 2, SIZE // 2, 0], torch.tensor(2.0))


def test_binned_rasteriser_matches_naive_reference():
    generator = torch.Generator().manual_seed(0)
    xy = torch.rand(300, 3, 2, generator=generator) * 40 - 4  # some triangles leave the screen
    inv_depth = torch.rand(300, 1, generator=generator).expand(300, 3) + 0.1 * torch.rand(300, 3, generator=generator)
    fast = rasterize_2d(xy, 24, 40, inv_depth, max_pairs=2000)  # forces many chunks
    slow = rasterize_2d_naive(xy, 24, 40, inv_depth)
    assert (fast >= 0).sum() > 100
    assert torch.equal(fast, slow)


def test_orbit_view_is_upright_and_sphere_silhouette_has_the_right_size():
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.5)
    vertices = torch.tensor(sphere.vertices, dtype=torch.float32)
    top = (vertices[:, 2:3] > 0).float()
    colours = top * torch.tensor([1.0, 0.0, 0.0]) + (1 - top) * torch.tensor([0.0, 1.0, 0.0])
    mesh = TexturedMesh(vertices, torch.tensor(sphere.faces), vertex_colors=colours)
    cameras = orbit_cameras(2, elevation=0.0, distance=2.5, fovy=40.0, height=64, width=64)
    render = render_mesh(mesh, cameras)
    # World +z is up in the image: red above the centre row, green below.
    assert (render.rgb[:, 22, 32, 0] > 0.9).all() and (render.rgb[:, 42, 32, 1] > 0.9).all()
    focal = 32 / math.tan(math.radians(20.0))
    radius_px = focal * math.tan(math.asin(0.5 / 2.5))
    expected = math.pi * radius_px**2
    assert abs(float(render.alpha[0].sum()) - expected) / expected < 0.03


def test_backend_choice_on_cpu():
    cameras = camera_at_origin(8)
    vertices, faces, _ = quad([-1.0, -1.0, 2.0], [2.0, 0.0, 0.0], [0.0, 2.0, 0.0])
    mesh = TexturedMesh(vertices, faces)
    assert render_mesh(mesh, cameras, backend="torch").alpha.sum() > 0
    with pytest.raises(MissingAcceleratorError):
        render_mesh(mesh, cameras, backend="nvdiffrast")
    with pytest.raises(ValueError):
        render_mesh(mesh, cameras, backend="opengl")
    assert "nvdiffrast" not in sys.modules or torch.cuda.is_available()
    assert rasterize(mesh, cameras).face_id.shape == (1, 8, 8)
