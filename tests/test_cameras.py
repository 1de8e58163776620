"""World and camera conventions of spec/bundled-prior.md."""
from __future__ import annotations

import torch

from dream3d.cameras import CameraSampler, CameraSamplerConfig, Cameras, orbit_cameras, view_label


def test_view_labels_follow_the_spec():
    assert view_label(61.0, 0.0) == "overhead"
    assert view_label(10.0, 30.0) == "front"
    assert view_label(10.0, -44.0) == "front"
    assert view_label(10.0, 90.0) == "side"
    assert view_label(10.0, 136.0) == "back"
    assert view_label(10.0, -170.0) == "back"
    assert view_label(60.0, 100.0) == "side"


def test_azimuth_zero_is_on_plus_x_and_grows_towards_plus_y():
    cams = Cameras.from_spherical(torch.tensor([0.0, 0.0, 90.0 - 1e-3]), torch.tensor([0.0, 90.0, 0.0]), torch.tensor([2.0, 2.0, 2.0]), 40.0, 32, 32)
    torch.testing.assert_close(cams.positions()[0], torch.tensor([2.0, 0.0, 0.0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(cams.positions()[1], torch.tensor([0.0, 2.0, 0.0]), atol=1e-5, rtol=0)
    assert cams.positions()[2, 2] > 1.99


def test_origin_projects_to_the_centre_and_up_is_up():
    cams = orbit_cameras(8, elevation=20.0, height=32, width=48)
    points = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.5]]).expand(8, 2, 3)
    uv, depth = cams.project(points)
    torch.testing.assert_close(uv[:, 0], torch.tensor([24.0, 16.0]).expand(8, 2), atol=1e-4, rtol=0)
    assert (uv[:, 1, 1] < 16.0).all()  # +z appears above the centre
    torch.testing.assert_close(depth[:, 0], torch.full((8,), 2.5), atol=1e-5, rtol=0)


def test_rays_pass_through_projected_pixels():
    cams = orbit_cameras(2, height=8, width=8)
    origins, directions = cams.rays()
    point = origins[:, 2, 5] + 1.7 * directions[:, 2, 5]
    uv, _ = cams.project(point[:, None])
    torch.testing.assert_close(uv[:, 0], torch.tensor([5.5, 2.5]).expand(2, 2), atol=1e-4, rtol=0)


def test_sampler_respects_ranges():
    cfg = CameraSamplerConfig(batch_size=4000)
    cams = CameraSampler(cfg).sample(0, torch.Generator().manual_seed(0))
    assert cams.elevation.min() >= -10 and cams.elevation.max() <= 60
    assert cams.distance.min() >= 2.3 and cams.distance.max() <= 2.7
    assert cams.azimuth.min() >= -180 and cams.azimuth.max() < 180
    torch.testing.assert_close(cams.positions().norm(dim=-1), cams.distance)
