"""Volume rendering against closed forms: a constant density gives 1 - exp(-sigma * length)."""
from __future__ import annotations

import math

import torch
from torch import nn

from dream3d.cameras import Cameras, orbit_cameras
from dream3d.render.occupancy import OccupancyGrid, OccupancyGridConfig
from dream3d.render.shading import ShadingConfig
from dream3d.render.volume import VolumeRenderer, VolumeRendererConfig, ray_sphere_interval
from dream3d.scene.background import Background, BackgroundConfig


class ConstantField(nn.Module):
    """Density ``sigma`` and colour ``color`` everywhere inside the unit sphere."""

    bounds_radius = 1.0

    def __init__(self, sigma: float, color=(0.2, 0.4, 0.6)):
        super().__init__()
        self.sigma = sigma
        self.register_buffer("color", torch.tensor(color))

    def forward(self, points):
        return torch.full(points.shape[:1], self.sigma), self.color.expand(points.shape[0], 3)

    def density(self, points):
        return self(points)[0]

    def normals(self, points, sigma):
        return -nn.functional.normalize(points, dim=-1)


def make_renderer(field, occupancy=False, n_samples=64, background=(1.0, 1.0, 1.0)):
    config = VolumeRendererConfig(n_samples=n_samples, occupancy=OccupancyGridConfig(enabled=occupancy))
    renderer = VolumeRenderer(field, Background(BackgroundConfig(color=background)), config, ShadingConfig())
    return renderer.eval()


def chord_lengths(cameras: Cameras) -> torch.Tensor:
    origins, directions = cameras.rays()
    near, far, hit = ray_sphere_interval(origins.reshape(-1, 3), directions.reshape(-1, 3), 1.0)
    return (far - near) * hit


def test_constant_density_opacity_matches_closed_form():
    sigma = 1.3
    cameras = orbit_cameras(2, elevation=20.0, distance=2.5, height=12, width=12)
    render = make_renderer(ConstantField(sigma))(cameras)
    expected = 1.0 - torch.exp(-sigma * chord_lengths(cameras))
    torch.testing.assert_close(render.alpha.reshape(-1), expected, atol=1e-5, rtol=1e-5)


def test_weights_sum_to_opacity_and_colour_composites_over_background():
    sigma, color, bg = 2.0, torch.tensor([0.2, 0.4, 0.6]), torch.tensor([1.0, 0.0, 0.5])
    cameras = orbit_cameras(1, height=10, width=10)
    render = make_renderer(ConstantField(sigma, tuple(color.tolist())), background=tuple(bg.tolist()))(cameras)
    alpha = render.alpha.reshape(-1, 1)
    torch.testing.assert_close(render.rgb.reshape(-1, 3), alpha * color + (1 - alpha) * bg, atol=1e-5, rtol=1e-5)


def test_depth_of_a_thin_dense_shell_is_its_entry_distance():
    """A very dense medium stops rays at entry: depth = distance - 1 on the central ray."""
    cameras = Cameras.from_spherical(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([3.0]), 10.0, 1, 1)
    render = make_renderer(ConstantField(1e4), n_samples=512)(cameras)
    assert abs(float(render.depth) - 2.0) < 0.01
    assert abs(float(render.alpha) - 1.0) < 1e-6


def test_occupancy_mask_skips_empty_cells_without_changing_the_image():
    class Ball(ConstantField):
        def forward(self, points):
            inside = points.norm(dim=-1) < 0.5
            return torch.where(inside, 5.0, 0.0), self.color.expand(points.shape[0], 3)

    cameras = orbit_cameras(1, height=16, width=16)
    full = make_renderer(Ball(0.0), occupancy=False)
    masked = make_renderer(Ball(0.0), occupancy=True)
    masked.occupancy.update(0, masked.field.density, force=True)
    a, b = full(cameras), masked(cameras)
    torch.testing.assert_close(a.rgb, b.rgb, atol=1e-6, rtol=0)
    assert b.extras["samples_queried"] < 0.5 * a.extras["samples_queried"]


def test_occupancy_grid_moving_maximum():
    grid = OccupancyGrid(OccupancyGridConfig(resolution=4, decay=0.5, threshold=0.01, dilation=0), bounds_radius=1.0)
    values = iter([torch.full((64,), 8.0), torch.zeros(64)])
    grid.update(0, lambda p: next(values), force=True)
    grid.update(1, lambda p: next(values), force=True)
    torch.testing.assert_close(grid.density, torch.full((4, 4, 4), 4.0))
    assert grid.occupancy_fraction() == 1.0


def test_occupancy_grid_holds_density_times_the_sample_step():
    """As nerfacc's ``occ_eval_fn``: the grid compares density x step (opacity scale) with the threshold."""
    renderer = make_renderer(ConstantField(1.0), occupancy=True, n_samples=20)
    renderer.update(0, force=True)
    torch.testing.assert_close(renderer.occupancy.density, torch.full((32, 32, 32), 2.0 / 20))


def test_ray_sphere_interval():
    origins = torch.tensor([[0.0, 0.0, -3.0], [0.0, 2.0, -3.0]])
    directions = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    near, far, hit = ray_sphere_interval(origins, directions, 1.0)
    assert hit.tolist() == [True, False]
    assert math.isclose(float(near[0]), 2.0, abs_tol=1e-6) and math.isclose(float(far[0]), 4.0, abs_tol=1e-6)


def test_density_blob_formula():
    from dream3d.scene.encodings import EncodingConfig
    from dream3d.scene.nerf import NeRFConfig, NeRFField

    field = NeRFField(NeRFConfig(encoding=EncodingConfig(type="densegrid", dense_resolution=8, dense_features=2),
                                 blob_density=10.0, blob_radius=0.5))
    points = torch.tensor([[0.0, 0.0, 0.0], [0.25, 0.0, 0.0], [0.0, 0.3, 0.4]])
    # blob_density * (1 - |x| / blob_radius): 10, 5 and 0 at radii 0, 0.25 and 0.5.
    torch.testing.assert_close(field.density_bias(points), torch.tensor([10.0, 5.0, 0.0]))


def test_initial_shape_fit_learns_the_blob_profile_and_grey_albedo():
    from dream3d.scene.encodings import EncodingConfig
    from dream3d.scene.initial_shape import InitialShapeConfig, blob_profile, fit_initial_shape
    from dream3d.scene.nerf import NeRFConfig, NeRFField

    torch.manual_seed(0)
    field = NeRFField(NeRFConfig(encoding=EncodingConfig(type="densegrid", dense_resolution=16, dense_features=4),
                                 hidden_dim=32, density_bias="none"))
    config = InitialShapeConfig(steps=300, density=20.0, radius=0.6, points_per_step=2048, lr=0.02)
    fit_initial_shape(field, config)
    points = torch.tensor([[0.15, 0.0, 0.0], [0.3, 0.0, 0.0], [0.0, 0.45, 0.0], [0.0, 0.0, -0.8]])
    with torch.no_grad():
        raw = field.raw_density(points)
        albedo = field.albedo(points)
    # the profile 20 (1 - r / 0.6): 15, 10, 5, -6.67 (away from the peak a 16^3 grid cannot hold)
    torch.testing.assert_close(raw, blob_profile(points, 20.0, 0.6), atol=1.5, rtol=0.0)
    torch.testing.assert_close(albedo, torch.full_like(albedo, 0.5), atol=0.05, rtol=0.0)
    assert field.density(torch.tensor([[0.0, 0.0, 0.0]])) > 15.0  # opaque at the centre


def test_normals_only_where_the_weight_counts_stay_within_the_stated_bound():
    """Shading skips normals at samples with w_i <= t; each pixel then moves by at most n * t."""
    from dream3d.scene.encodings import EncodingConfig
    from dream3d.scene.nerf import NeRFConfig, NeRFField

    torch.manual_seed(0)
    field = NeRFField(NeRFConfig(encoding=EncodingConfig(type="densegrid", dense_resolution=16, dense_features=4),
                                 hidden_dim=16, blob_radius=0.6))
    cameras = orbit_cameras(2, elevation=15.0, distance=2.5, height=16, width=16)
    renders = {}
    for threshold in (0.0, 1e-2):
        config = VolumeRendererConfig(n_samples=24, stratified=False, normal_min_weight=threshold,
                                      occupancy=OccupancyGridConfig(enabled=False))
        renderer = VolumeRenderer(field, Background(BackgroundConfig()), config, ShadingConfig()).train()
        renders[threshold] = {mode: renderer(cameras, mode, jitter_light=False) for mode in ("albedo", "lambertian")}
    full, pruned = renders[0.0]["lambertian"], renders[1e-2]["lambertian"]
    assert full.extras["normals_queried"] == full.extras["samples_queried"]
    assert pruned.extras["normals_queried"] < 0.8 * full.extras["normals_queried"]
    difference = (full.rgb - pruned.rgb).abs().max()
    assert 0 < difference <= 24 * 1e-2
    torch.testing.assert_close(renders[0.0]["albedo"].rgb, renders[1e-2]["albedo"].rgb, rtol=0, atol=0)
    assert abs(float((full.extras["orientation"] - pruned.extras["orientation"]).detach())) <= 24 * 1e-2


def test_rendering_cameras_in_chunks_changes_no_image_loss_or_gradient():
    """camera_chunk only splits the work: 4 views rendered one by one give the images, the
    orientation loss, the sample counts and the field's gradients of rendering them together."""
    from dream3d.scene.encodings import EncodingConfig
    from dream3d.scene.nerf import NeRFConfig, NeRFField

    torch.manual_seed(0)
    field = NeRFField(NeRFConfig(encoding=EncodingConfig(type="densegrid", dense_resolution=16, dense_features=4),
                                 hidden_dim=16, blob_radius=0.6))
    cameras = orbit_cameras(4, elevation=15.0, distance=2.5, height=12, width=12)
    results = {}
    for chunk in (0, 1, 3):
        config = VolumeRendererConfig(n_samples=24, stratified=False, camera_chunk=chunk,
                                      occupancy=OccupancyGridConfig(enabled=False))
        renderer = VolumeRenderer(field, Background(BackgroundConfig()), config, ShadingConfig()).train()
        render = renderer(cameras, "lambertian", jitter_light=False)
        loss = render.rgb.square().mean() + render.extras["orientation"]
        grads = torch.autograd.grad(loss, list(field.parameters()))
        results[chunk] = (render, loss.detach(), grads)
    whole, _, whole_grads = results[0]
    assert whole.extras["orientation"] > 0
    for chunk in (1, 3):
        render, loss, grads = results[chunk]
        assert render.rgb.shape == (4, 12, 12, 3)
        torch.testing.assert_close(render.rgb, whole.rgb)
        torch.testing.assert_close(render.normal, whole.normal)
        torch.testing.assert_close(render.extras["orientation"], whole.extras["orientation"])
        assert render.extras["samples_queried"] == whole.extras["samples_queried"]
        assert render.extras["normals_queried"] == whole.extras["normals_queried"]
        torch.testing.assert_close(loss, results[0][1])
        for grad, whole_grad in zip(grads, whole_grads):
            torch.testing.assert_close(grad, whole_grad, rtol=1e-4, atol=1e-7)


class TwoToneBall(ConstantField):
    """A dense ball of radius 0.6: a red shell around a blue core (radius 0.3) that no view sees."""

    def forward(self, points):
        radius = points.norm(dim=-1)
        core = (radius < 0.3).float()[:, None]
        colour = core * torch.tensor([0.0, 0.0, 1.0]) + (1 - core) * torch.tensor([1.0, 0.0, 0.0])
        return torch.where(radius < 0.6, 40.0, 0.0), colour


@torch.no_grad()
def test_early_stopping_matches_compositing_every_sample_within_eps():
    """Evaluation renders stop opaque rays (T < eps): the image moves by at most about eps, and
    the samples behind the front surface are never queried."""
    cameras = orbit_cameras(3, elevation=20.0, distance=2.5, height=24, width=24)
    renders = {}
    for eps in (0.0, 1e-4):
        renderer = make_renderer(TwoToneBall(0.0), occupancy=True, n_samples=64)
        renderer.config.early_stop_eps = eps
        renderer.occupancy.update(0, renderer.field.density, force=True)
        renders[eps] = renderer(cameras)
    full, early = renders[0.0], renders[1e-4]
    # the weight left behind is under eps: colours move by less than eps, depths by eps x far (3.5)
    torch.testing.assert_close(early.rgb, full.rgb, atol=1.1e-4, rtol=0)
    torch.testing.assert_close(early.alpha, full.alpha, atol=1.1e-4, rtol=0)
    torch.testing.assert_close(early.depth, full.depth, atol=3.5e-4, rtol=0)
    assert early.extras["samples_queried"] < 0.6 * full.extras["samples_queried"]
    opaque = full.alpha[..., 0] > 0.999
    assert opaque.sum() > 50 and early.rgb[opaque][:, 2].max() < 1e-3  # only the red front shows


@torch.no_grad()
def test_early_stopping_changes_nothing_on_a_ray_that_stays_transparent():
    cameras = orbit_cameras(1, height=8, width=8)
    full, early = make_renderer(ConstantField(0.3)), make_renderer(ConstantField(0.3))
    full.config.early_stop_eps = 0.0
    a, b = full(cameras), early(cameras)
    assert early.marches_early("albedo") and not full.marches_early("albedo")
    torch.testing.assert_close(b.rgb, a.rgb, atol=1e-6, rtol=0)
    torch.testing.assert_close(b.depth, a.depth, atol=1e-5, rtol=0)
    assert a.extras["samples_queried"] == b.extras["samples_queried"]


@torch.no_grad()
def test_early_stopping_skips_chunks_with_nothing_occupied():
    """A field that cannot take zero points (a hash grid reshapes its input) is never called
    with none: chunks wholly in empty cells are skipped."""
    class NoEmptyQueries(TwoToneBall):
        def forward(self, points):
            assert points.shape[0] > 0
            return super().forward(points)

    cameras = orbit_cameras(1, height=12, width=12)
    renderer = make_renderer(NoEmptyQueries(0.0), occupancy=True, n_samples=32)
    renderer.occupancy.update(0, renderer.field.density, force=True)
    full = make_renderer(TwoToneBall(0.0), occupancy=True, n_samples=32)
    full.config.early_stop_eps = 0.0
    full.occupancy.update(0, full.field.density, force=True)
    torch.testing.assert_close(renderer(cameras).rgb, full(cameras).rgb, atol=1.1e-4, rtol=0)
