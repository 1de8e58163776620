"""The ``solid`` surface: cleaned voxel solids, the silhouette hull, and a Gaussian torus whose
hole holds a background-coloured membrane and whose surroundings hold a floater."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import trimesh

from dream3d.eval.topology import topology
from dream3d.export.config import ExportConfig, validate_export_config
from dream3d.export.solid import ball, clean_solid, solid_surface
from dream3d.export.types import ExportError
from dream3d.representations.gaussians import GaussianRepresentation, GaussianSceneConfig
from dream3d.scene.gaussians import GaussianScene

R = 48
AXIS = np.linspace(-1.0, 1.0, R)


def _grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.meshgrid(AXIS, AXIS, AXIS, indexing="ij")


def _genus_and_pieces(occupied: np.ndarray) -> tuple[int, int]:
    mesh = solid_surface(occupied, 1.0)
    found = topology(trimesh.Trimesh(mesh.vertices, mesh.faces, process=False))
    assert found.watertight
    return found.genus, found.components


def test_ball_is_the_set_of_voxels_within_the_radius():
    element = ball(1.0)
    assert element.shape == (3, 3, 3) and element.sum() == 7  # the centre and its 6 face neighbours
    assert ball(2.0).sum() == 33


def test_a_thin_tunnel_and_a_floater_are_removed_and_a_wide_hole_is_kept():
    x, y, z = _grid()
    cube = (np.abs(x) < 0.5) & (np.abs(y) < 0.5) & (np.abs(z) < 0.5)
    tunnel = (np.abs(x) < 0.03) & (np.abs(y) < 0.03)  # 2 x 2 voxels, through the whole cube along z
    floater = (x - 0.8) ** 2 + (y - 0.8) ** 2 + (z - 0.8) ** 2 < 0.08 ** 2
    noisy = (cube & ~tunnel) | floater
    assert _genus_and_pieces(noisy) == (0, 1)
    # without the closing and the smoothing the tunnel stays (genus 1)
    mesh = solid_surface(noisy, 1.0, close_voxels=0.0, open_voxels=0.0, smooth_voxels=0.0)
    assert topology(trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)).genus == 1
    assert clean_solid(noisy).sum() < noisy.sum() + tunnel.sum()
    assert not clean_solid(noisy)[floater].any()

    torus = (np.sqrt(x ** 2 + y ** 2) - 0.5) ** 2 + z ** 2 < 0.2 ** 2  # hole radius 0.3: 7 voxels
    assert _genus_and_pieces(torus) == (1, 1)


def test_the_closing_adds_only_the_voxels_that_the_hull_keeps():
    """A closing wide enough to fill a torus's hole leaves it open when the hull (a view that
    sees through the hole) excludes it, and still fills a tunnel that the hull contains."""
    x, y, z = _grid()
    torus = (np.sqrt(x ** 2 + y ** 2) - 0.35) ** 2 + z ** 2 < 0.2 ** 2  # hole radius 0.15: 3.5 voxels
    seen_through = np.sqrt(x ** 2 + y ** 2) < 0.15  # what a view along z sees through the hole

    def outside_hole(candidates: np.ndarray) -> np.ndarray:
        return candidates & ~seen_through

    def genus_of(solid: np.ndarray) -> int:
        mesh = solid_surface(solid, 1.0, close_voxels=0.0, open_voxels=0.0)
        return topology(trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)).genus

    assert genus_of(clean_solid(torus, close_voxels=6.0)) == 0  # unbounded, the closing fills the hole
    bounded = clean_solid(torus, close_voxels=6.0, keep_closed=outside_hole)
    assert genus_of(bounded) == 1 and not bounded[seen_through].any()
    assert bounded.sum() > torus.sum()  # it still closed the torus's surface cracks elsewhere

    cube = (np.abs(x) < 0.5) & (np.abs(y) < 0.5) & (np.abs(z) < 0.5)
    tunnel = (np.abs(x - 0.2) < 0.06) & (np.abs(y - 0.2) < 0.06)  # 4 x 4 voxels, clear of the hole's column
    assert genus_of(clean_solid(cube & ~tunnel, close_voxels=0.0)) == 1
    assert genus_of(clean_solid(cube & ~tunnel, close_voxels=3.0, keep_closed=outside_hole)) == 0


def test_enclosed_pockets_are_filled():
    x, y, z = _grid()
    shell = (x ** 2 + y ** 2 + z ** 2 < 0.6 ** 2) & (x ** 2 + y ** 2 + z ** 2 > 0.4 ** 2)
    solid = clean_solid(shell)
    assert solid[R // 2, R // 2, R // 2]
    mesh = solid_surface(shell, 1.0)
    radii = np.linalg.norm(mesh.vertices, axis=1)
    assert radii.min() > 0.5  # no inner shell


def test_a_cave_whose_mouth_the_smoothing_closes_leaves_no_inner_shell():
    x, y, z = _grid()
    r = np.sqrt(x ** 2 + y ** 2 + z ** 2)
    mouth = (np.abs(x) < 0.03) & (np.abs(y) < 0.03) & (z > 0)  # 2 x 2 voxels, from the cave up and out
    caved = (r < 0.6) & ~(r < 0.3) & ~mouth
    assert not clean_solid(caved, 0.0, 0.0)[R // 2, R // 2, R // 2]  # the cave is open: not filled
    mesh = solid_surface(caved, 1.0, close_voxels=0.0, open_voxels=0.0, smooth_voxels=1.0)
    found = topology(trimesh.Trimesh(mesh.vertices, mesh.faces, process=False))
    assert (found.components, found.genus) == (1, 0)
    assert np.linalg.norm(mesh.vertices, axis=1).min() > 0.5


def test_an_empty_solid_is_an_export_error():
    with pytest.raises(ExportError, match="no voxel"):
        solid_surface(np.zeros((R, R, R), dtype=bool), 1.0)


def test_solid_options_are_range_checked():
    with pytest.raises(ValueError, match="export.surface"):
        validate_export_config(ExportConfig(surface="voxels"))
    with pytest.raises(ValueError, match="export.silhouette.min_alpha"):
        bad = ExportConfig()
        bad.silhouette.min_alpha = 1.5
        validate_export_config(bad)
    with pytest.raises(ValueError, match="export.silhouette.max_hole_fraction"):
        bad = ExportConfig()
        bad.silhouette.max_hole_fraction = -0.1
        validate_export_config(bad)


# ---------------------------------------------------------------- a Gaussian torus
MAJOR, MINOR = 0.4, 0.15
GREEN = (0.15, 0.65, 0.2)


def _gaussians(points: torch.Tensor, scale: float, opacity: float, rgb) -> tuple[torch.Tensor, ...]:
    n = points.shape[0]
    quats = torch.zeros(n, 4)
    quats[:, 0] = 1.0
    return (points, torch.full((n, 3), math.log(scale)), quats,
            torch.full((n,), math.log(opacity / (1.0 - opacity))), torch.tensor(rgb).expand(n, 3))


def torus_with_membrane_and_floater(generator: torch.Generator) -> GaussianScene:
    """A green torus (major 0.4, minor 0.15, axis z) of Gaussians; a disc of near-white ones
    fills its hole (invisible over the white training background), and a green clump floats
    0.5 above it."""
    n = 4000
    u, v = torch.rand(n, generator=generator) * 2 * math.pi, torch.rand(n, generator=generator) * 2 * math.pi
    r = MINOR * torch.rand(n, generator=generator).sqrt() * 0.9
    ring = torch.stack([(MAJOR + r * torch.cos(v)) * torch.cos(u), (MAJOR + r * torch.cos(v)) * torch.sin(u),
                        r * torch.sin(v)], -1)
    m = 600
    rho, phi = 0.27 * torch.rand(m, generator=generator).sqrt(), torch.rand(m, generator=generator) * 2 * math.pi
    disc = torch.stack([rho * torch.cos(phi), rho * torch.sin(phi), 0.04 * (torch.rand(m, generator=generator) - 0.5)], -1)
    clump = torch.tensor([0.0, 0.0, 0.65]) + 0.04 * torch.randn(40, 3, generator=generator)
    parts = [_gaussians(ring, 0.03, 0.8, GREEN), _gaussians(disc, 0.03, 0.9, (0.97, 0.97, 0.97)),
             _gaussians(clump, 0.03, 0.8, GREEN)]
    return GaussianScene.from_tensors(*(torch.cat(tensors) for tensors in zip(*parts)))


def _mesh_of(scene: GaussianScene, surface: str, close_voxels: float = 2.0, outside_views: int = 1) -> trimesh.Trimesh:
    from dream3d.export.silhouette import SilhouetteConfig

    representation = GaussianRepresentation(GaussianSceneConfig(black_background_probability=0.0), torch.device("cpu"))
    representation.scene = scene
    config = ExportConfig(resolution=64, surface=surface, solid_level=1.0 / 16, close_voxels=close_voxels,
                          texture_size=64, progress=False, preview=False,
                          silhouette=SilhouetteConfig(outside_views=outside_views))
    asset = representation.to_mesh(config)
    return trimesh.Trimesh(asset.mesh.vertices, asset.mesh.faces, process=False)


def test_solid_surface_of_gaussians_drops_the_hole_membrane_and_the_floater():
    scene = torus_with_membrane_and_floater(torch.Generator().manual_seed(0))

    def in_hole(mesh):  # face centres inside the hole, well clear of the tube (inner radius 0.25)
        centres = mesh.triangles_center
        return int((np.linalg.norm(centres[:, :2], axis=1) < 0.18).sum())

    def floating(mesh):
        return int((mesh.triangles_center[:, 2] > 0.4).sum())

    density = _mesh_of(scene, "density")
    assert in_hole(density) > 0 and floating(density) > 0  # the plain density mesh has both faults

    solid = _mesh_of(scene, "solid")
    found = topology(solid)
    assert (found.genus, found.components, found.watertight) == (1, 1, True)
    assert in_hole(solid) == 0 and floating(solid) == 0
    outer = np.linalg.norm(solid.vertices[:, :2], axis=1).max()
    assert abs(outer - (MAJOR + MINOR)) < 0.08

    # A closing wide enough to fill the hole (radius 0.25: 8 voxels) adds only voxels inside the
    # silhouette hull, and the views from above see through the hole: it stays open.
    wide = _mesh_of(scene, "solid", close_voxels=10.0)
    assert topology(wide).genus == 1 and in_hole(wide) == 0

    # A hull that needs two views to carve a node (``silhouette.outside_views``) leaves it open too.
    tolerant = _mesh_of(scene, "solid", outside_views=2)
    assert topology(tolerant).genus == 1 and in_hole(tolerant) == 0 and floating(tolerant) == 0


def test_carving_projects_only_occupied_nodes_and_equals_the_whole_hull():
    """``carve`` tests the occupied nodes alone; the result is the occupied set intersected with
    the hull computed at every node of the grid."""
    from dream3d.export.grid import grid_rows
    from dream3d.export.silhouette import SilhouetteConfig, carve, render_silhouettes
    from dream3d.render.splat import SplatConfig, render_gaussians

    scene = torus_with_membrane_and_floater(torch.Generator().manual_seed(0))
    views = render_silhouettes(lambda cameras, background: render_gaussians(scene, cameras, background, SplatConfig()),
                               SilhouetteConfig(), background=torch.ones(3))
    resolution, radius = 40, 1.0
    points = grid_rows(resolution, radius, 0, resolution * resolution, torch.device("cpu")).reshape(-1, 3)
    whole = (views.hull_at(points, chunk_size=5000) >= 0.5).numpy().reshape((resolution,) * 3)
    with torch.no_grad():
        occupied = (scene.density(points) > 0.05).numpy().reshape((resolution,) * 3)
    carved = carve(occupied, radius, views, 0.5, chunk_size=777)
    assert 0 < carved.sum() < occupied.sum()  # the membrane and the floater go
    np.testing.assert_array_equal(carved, occupied & whole)


def test_pinholes_in_a_silhouette_are_filled_and_a_handle_hole_is_kept():
    """A view's holes under ``max_hole_fraction`` of its foreground are pinholes between sparse
    Gaussians (filled); a larger one, like a mug handle's, and the background are kept."""
    from dream3d.export.silhouette import fill_pinholes

    mask = torch.zeros(2, 40, 40)
    mask[:, 5:35, 5:35] = 0.9  # 900 px of foreground
    mask[0, 10:12, 10:12] = 0.2  # a 4 px pinhole: 0.4%
    mask[0, 20:26, 20:26] = 0.0  # a 36 px hole: 4%
    mask[1, 0:20, 15:18] = 0.0  # a notch open to the border: background, not a hole
    filled = fill_pinholes(mask, min_alpha=0.5, max_hole_fraction=0.01)
    assert (filled[0, 10:12, 10:12] == 1.0).all()
    assert (filled[0, 20:26, 20:26] == 0.0).all()
    assert torch.equal(filled[1], mask[1]) and (filled[:, :5] == 0).all()
    assert torch.equal(fill_pinholes(mask, 0.5, 0.0), mask)  # 0 turns it off


def test_a_gap_one_view_alone_sees_through_is_carved_only_by_the_strict_hull():
    """With ``outside_views=2`` a node goes only when two views see it as background: a gap that
    one view sees through (punched into its silhouette here) keeps its nodes, while the torus's
    hole stays open in the mesh either way (``test_solid_surface_of_gaussians_drops_the_hole_membrane_and_the_floater``)."""
    from dream3d.export.grid import grid_rows
    from dream3d.export.silhouette import SilhouetteConfig, SilhouetteViews, carve, render_silhouettes
    from dream3d.render.splat import SplatConfig, render_gaussians

    scene = torus_with_membrane_and_floater(torch.Generator().manual_seed(0))
    views = render_silhouettes(lambda cameras, background: render_gaussians(scene, cameras, background, SplatConfig()),
                               SilhouetteConfig(), background=torch.ones(3))
    resolution, radius = 40, 1.0
    points = grid_rows(resolution, radius, 0, resolution * resolution, torch.device("cpu")).reshape(-1, 3)
    with torch.no_grad():
        occupied = (scene.density(points) > 0.05).numpy().reshape((resolution,) * 3)

    positions = views.cameras.c2w[:, :3, 3]
    ring = (views.cameras.elevation - 15.0).abs() < 1e-3
    side = int(torch.where(ring, positions[:, 0], torch.full_like(positions[:, 0], -9.0)).argmax())  # looks along -x
    u, v = (int(x) for x in views.cameras[side:side + 1].project(torch.tensor([[[MAJOR, 0.0, 0.0]]]))[0][0, 0])
    punched = views.masks.clone()
    punched[side, 0, v - 4:v + 4, u - 4:u + 4] = 0.0  # a gap through the tube, in this view only
    gapped = SilhouetteViews(punched, views.cameras)

    strict, strict_gapped = (carve(occupied, radius, hull, 0.5) for hull in (views, gapped))
    tolerant, tolerant_gapped = (carve(occupied, radius, hull, 0.5, outside_views=2) for hull in (views, gapped))
    gap = strict & ~strict_gapped
    assert gap.sum() > 0  # the strict hull is tunnelled by the one view's gap
    assert not (gap & ~tolerant_gapped).any()  # the tolerant one keeps every node of the gap
    assert (strict & ~tolerant).sum() == 0  # and all that the strict one keeps


def _torus_nerf():
    """A NeRF whose field is a thick torus (radii 0.4 and 0.25, so its hole's radius is 0.15): density
    40 in the tube falling to 0 across its surface over about 0.02 (a sigmoid); green albedo."""
    from dream3d.representations.nerf import NeRFRepresentation, NeRFSceneConfig
    from dream3d.scene.initial_shape import InitialShapeConfig
    from dream3d.scene.nerf import NeRFConfig

    nerf = NeRFRepresentation(NeRFSceneConfig(nerf=NeRFConfig(initial_shape=InitialShapeConfig(steps=0))),
                              torch.device("cpu"))

    def torus(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ring = torch.stack([points[:, :2].norm(dim=-1) - 0.4, points[:, 2]], -1).norm(dim=-1)
        sigma = 40.0 * torch.sigmoid((0.25 - ring) / 0.02)
        return sigma, torch.tensor(GREEN).expand(len(points), 3)

    nerf.field.forward = torus
    nerf.renderer.update(0, force=True)  # the occupancy grid sees the torus
    return nerf


@pytest.mark.parametrize("enabled, genus", [(None, 0), (True, 1)])
def test_a_nerf_export_bounds_its_closing_by_the_silhouette_hull_when_asked(tmp_path, enabled, genus):
    """A closing with a ball of 6 voxels (0.31) fills the torus's hole; with ``export.silhouette.enabled`` the NeRF's
    rendered opacity bounds the closing, and the views from above keep the hole open. Off by
    default for a NeRF (None), so the mesh is the one of before."""
    from dream3d.export.backproject import BackprojectConfig
    from dream3d.export.silhouette import SilhouetteConfig

    config = ExportConfig(resolution=40, surface="solid", close_voxels=6.0, texture_size=64, progress=False,
                          preview=False, silhouette=SilhouetteConfig(enabled=enabled, rig=BackprojectConfig(resolution=48)))
    result = _torus_nerf().export(tmp_path, config)
    mesh = trimesh.load(result["obj"], force="mesh", process=False)
    found = topology(mesh)
    assert (found.genus, found.components) == (genus, 1)
    if genus == 0:  # the closing's membrane spans the hole, at its centre too
        assert (np.linalg.norm(mesh.triangles_center[:, :2], axis=1) < 0.05).any()
