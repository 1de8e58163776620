"""The export stage on an analytic scene: geometry, texture, files, failures."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from dream3d.export import (
    ExportConfig,
    ExportError,
    Mesh,
    export_scene,
    fill_seams,
    texel_surface_points,
    validate_export_config,
)
from dream3d.export import pipeline
from dream3d.export.cleanup import cleanup_mesh
from dream3d.export.formats import from_y_up, to_y_up

RADIUS = 0.5
PEAK = 50.0


class SphereScene:
    """Density: a steep sigmoid of the signed distance to a sphere; albedo: linear ramps."""

    def density(self, points: torch.Tensor) -> torch.Tensor:  # [N,3] -> [N]
        return PEAK * torch.sigmoid(-60.0 * (points.norm(dim=-1) - RADIUS))

    def albedo(self, points: torch.Tensor) -> torch.Tensor:  # [N,3] -> [N,3]
        return torch.from_numpy(albedo_np(points.numpy()))


def albedo_np(points: np.ndarray) -> np.ndarray:
    """Red/green ramp along x, blue ramp along z (the z ramp checks the up-axis conversion)."""
    x, z = points[:, 0], points[:, 2]
    return np.stack([0.5 + 0.9 * x, 0.5 - 0.9 * x, 0.5 + 0.8 * z], axis=-1).astype(np.float32)


class EmptyScene:
    def density(self, points: torch.Tensor) -> torch.Tensor:
        return torch.zeros(points.shape[0])

    def albedo(self, points: torch.Tensor) -> torch.Tensor:
        return torch.zeros(points.shape[0], 3)


def small_config(**overrides) -> ExportConfig:
    options = dict(resolution=64, texture_size=128, preview_size=64, progress=False)
    options.update(overrides)
    return ExportConfig(**options)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> pipeline.ExportResult:
    return export_scene(SphereScene(), small_config(), tmp_path_factory.mktemp("run"))


def welded(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """The geometry with seam-split vertices merged back."""
    out = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    out.merge_vertices(merge_tex=True, merge_norm=True)
    return out


def sample_texture(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear texture lookup at OBJ-convention UVs (v up, texel centres at +0.5)."""
    h, w = image.shape[:2]
    x = np.clip(uv[:, 0] * w - 0.5, 0, w - 1)
    y = np.clip((1.0 - uv[:, 1]) * h - 0.5, 0, h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    return (image[y0, x0] * (1 - fx) * (1 - fy) + image[y0, x1] * fx * (1 - fy)
            + image[y1, x0] * (1 - fx) * fy + image[y1, x1] * fx * fy)


def test_sphere_mesh_is_watertight_with_the_right_volume(exported):
    glb = trimesh.load(exported.glb, force="mesh")
    geometry = welded(glb)
    assert geometry.is_watertight
    expected = 4.0 / 3.0 * math.pi * RADIUS**3
    assert geometry.volume > 0  # outward-facing triangles
    assert abs(geometry.volume - expected) / expected < 0.05
    assert exported.threshold == pytest.approx(PEAK / 2, rel=0.05)  # half-maximum auto level


def test_texture_matches_albedo_at_random_surface_points(exported):
    glb = trimesh.load(exported.glb, force="mesh")
    assert isinstance(glb.visual, trimesh.visual.TextureVisuals)
    image = np.asarray(glb.visual.material.baseColorTexture.convert("RGB"), dtype=np.float32) / 255.0
    assert image.shape == (128, 128, 3)
    points, face_idx = trimesh.sample.sample_surface(glb, 3000, seed=0)
    corners = glb.vertices[glb.faces[face_idx]]  # [N,3,3]
    bary = trimesh.triangles.points_to_barycentric(corners, points)  # [N,3]
    uv = (glb.visual.uv[glb.faces[face_idx]] * bary[..., None]).sum(1)
    colours = sample_texture(image, uv)
    world = np.stack([points[:, 0], -points[:, 2], points[:, 1]], axis=-1)  # file +y up -> world +z up
    error = np.abs(colours - np.clip(albedo_np(world), 0, 1)).mean()
    assert error < 0.05


def test_obj_mtl_png_and_preview(exported):
    mtl = exported.mtl.read_text()
    assert "map_Kd texture.png" in mtl.splitlines()
    assert "mtllib model.mtl" in exported.obj.read_text()
    assert Image.open(exported.texture).size == (128, 128)
    obj = trimesh.load(exported.obj, force="mesh")
    assert isinstance(obj.visual, trimesh.visual.TextureVisuals) and obj.visual.material.image is not None
    preview = np.asarray(Image.open(exported.preview))
    assert preview.shape == (64, 4 * 64, 3) and preview.std() > 10


def test_up_axis_conversion_is_a_proper_rotation():
    world = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(to_y_up(world), [[1, 0, 0], [0, 0, -1], [0, 1, 0]])
    np.testing.assert_allclose(from_y_up(to_y_up(world)), world)
    assert np.linalg.det(to_y_up(world)) == pytest.approx(1.0)


def test_empty_scene_raises_a_clear_error_and_leaves_no_mesh_dir(tmp_path):
    with pytest.raises(ExportError, match=r"threshold.*ranges from 0 to 0.*export\.threshold"):
        export_scene(EmptyScene(), small_config(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_existing_mesh_dir_survives_failed_exports(tmp_path, monkeypatch):
    old = tmp_path / "mesh"
    old.mkdir()
    (old / "model.obj").write_text("previous export")
    with pytest.raises(ExportError):
        export_scene(EmptyScene(), small_config(), tmp_path)

    def broken_glb(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pipeline, "write_glb", broken_glb)
    with pytest.raises(OSError, match="disk full"):
        export_scene(SphereScene(), small_config(resolution=32, texture_size=64, preview=False), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mesh"]
    assert sorted(p.name for p in old.iterdir()) == ["model.obj"]
    assert (old / "model.obj").read_text() == "previous export"


def test_successful_export_replaces_the_old_mesh_dir(tmp_path):
    old = tmp_path / "mesh"
    old.mkdir()
    (old / "stale.txt").write_text("x")
    result = export_scene(SphereScene(), small_config(resolution=32, texture_size=64, preview=False), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mesh"]
    assert sorted(p.name for p in result.mesh_dir.iterdir()) == ["export.yaml", "model.glb", "model.mtl", "model.obj",
                                                                 "texture.png"]


def test_texel_surface_points_of_a_flat_square():
    vertices = np.array([[0, 0, 0.2], [1, 0, 0.2], [1, 1, 0.2], [0, 1, 0.2]], dtype=np.float32)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    texels = texel_surface_points(vertices, faces, vertices[:, :2], size=16)
    assert texels.mask.all()
    centres = (torch.arange(16) + 0.5) / 16
    expected = torch.stack(torch.meshgrid(1 - centres, centres, indexing="ij")[::-1] + (torch.full((16, 16), 0.2),), -1)
    torch.testing.assert_close(texels.points, expected)
    torch.testing.assert_close(texels.normals, torch.tensor([0.0, 0.0, 1.0]).expand(16, 16, 3))


def test_fill_seams_fills_the_atlas_without_touching_valid_texels():
    texture = torch.zeros(32, 32, 3)
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[5:12, 8:20] = True
    texture[mask] = torch.tensor([0.2, 0.4, 0.6])
    filled = fill_seams(texture, mask, dilation=2)
    torch.testing.assert_close(filled, torch.tensor([0.2, 0.4, 0.6]).expand(32, 32, 3))


def test_cleanup_drops_small_pieces_and_decimates():
    big = trimesh.creation.icosphere(subdivisions=4, radius=0.5)
    small = trimesh.creation.icosphere(subdivisions=0, radius=0.05)
    small.apply_translation([0.8, 0, 0])
    both = trimesh.util.concatenate([big, small])
    mesh = Mesh(both.vertices.astype(np.float32), both.faces.astype(np.int64))
    clean = cleanup_mesh(mesh, min_component_fraction=0.05, target_faces=1000)
    result = trimesh.Trimesh(clean.vertices, clean.faces)
    assert len(result.split(only_watertight=False)) == 1 and result.is_watertight
    assert 900 <= len(clean.faces) <= 1000
    assert np.linalg.norm(clean.vertices, axis=1).max() < 0.6


def test_out_of_range_options_are_named():
    with pytest.raises(ValueError, match="export.resolution"):
        validate_export_config(ExportConfig(resolution=2048))
    with pytest.raises(ValueError, match="export.texture_size"):
        validate_export_config(ExportConfig(texture_size=4))
    validate_export_config(ExportConfig())


def test_enclosed_pockets_are_filled_before_meshing():
    """A solid sphere of density 10 with a hollow core: without filling, marching cubes meshes
    the core's wall too; with it, only the outer surface (radius 0.6) is left."""
    from dream3d.export.grid import DensityGrid
    from dream3d.export.isosurface import extract_isosurface, fill_cavities

    axis = np.linspace(-1.0, 1.0, 48, dtype=np.float32)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    radius = np.sqrt(x**2 + y**2 + z**2)
    values = np.where((radius < 0.6) & (radius > 0.3), 10.0, 0.0).astype(np.float32)
    grid = DensityGrid(values, 1.0)
    hollow = extract_isosurface(grid, 5.0)
    filled = extract_isosurface(fill_cavities(grid, 5.0), 5.0)
    assert np.linalg.norm(hollow.vertices, axis=1).min() < 0.35
    assert np.linalg.norm(filled.vertices, axis=1).min() > 0.55
    assert fill_cavities(DensityGrid(np.where(radius < 0.6, 10.0, 0.0).astype(np.float32), 1.0), 5.0).values.max() == 10.0
