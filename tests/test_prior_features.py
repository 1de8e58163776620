"""The 2D feature check of the prior: it tells a front view from a back view on true renders."""
from __future__ import annotations

import pytest
import torch

from dream3d.cameras import Cameras
from dream3d.eval.prior_features import FeatureCheck, nearest_azimuths, shows_half, summarise_features, view_bank
from dream3d.prior.shapes_data import render


def test_half_of_the_circle_follows_the_handle_side():
    azimuths = torch.tensor([0.0, 60.0, -80.0, 100.0, 180.0, -170.0])
    assert shows_half(azimuths, "front").tolist() == [True, True, True, False, False, False]
    assert shows_half(azimuths, "back").tolist() == [False, False, False, True, True, True]


@pytest.mark.parametrize("shape", ["mug", "chair"])
def test_nearest_true_render_tells_front_from_back(shape):
    """Renders from cameras that are not in the bank, 12 in front and 12 behind: at least 11 of
    12 on each side are matched to a bank render from the right half of the circle."""
    bank, azimuths = view_bank(shape, "green", cameras_per_bank=120, seed=0, supersample=1)
    generator = torch.Generator().manual_seed(7)
    for view, (low, high) in (("front", (-40.0, 40.0)), ("back", (140.0, 220.0))):
        n = 12
        azimuth = low + (high - low) * torch.rand(n, generator=generator)
        elevation = -10.0 + 60.0 * torch.rand(n, generator=generator)
        cameras = Cameras.from_spherical(elevation, azimuth, torch.full((n,), 2.5), 40.0, 64, 64)
        images, _ = render([shape] * n, ["green"] * n, cameras, supersample=1)
        right = shows_half(nearest_azimuths(images, bank, azimuths), view)
        assert int(right.sum()) >= 11, (shape, view, right.tolist())
    # a mug's mirror image (the handle on the other side) is matched to the other half
    if shape == "mug":
        front = Cameras.from_spherical(torch.tensor([20.0]), torch.tensor([0.0]), torch.tensor([2.5]), 40.0, 64, 64)
        image, _ = render(["mug"], ["green"], front, supersample=1)
        assert shows_half(nearest_azimuths(image.flip(-1), bank, azimuths), "back").all()


def test_summary_counts_samples():
    checks = [FeatureCheck("a red mug, front view", False, "front", 8, 0.75, []),
              FeatureCheck("a purple mug, back view", True, "back", 8, 0.5, []),
              FeatureCheck("a red chair, back view", False, "back", 8, 1.0, [])]
    summary = summarise_features(checks)
    assert summary["mug_seen"] == {"view_accuracy": 0.75, "samples": 8}
    assert summary["mug_held_out"] == {"view_accuracy": 0.5, "samples": 8}
    assert summary["chair_seen"] == {"view_accuracy": 1.0, "samples": 8}
    assert summary["all"]["samples"] == 24 and summary["all"]["view_accuracy"] == pytest.approx(0.75)


def test_speck_check_finds_an_off_colour_spot_and_nothing_on_true_renders():
    from dream3d.cameras import CameraSampler
    from dream3d.eval.specks import has_speck, off_colour_pixels
    from dream3d.prior.catalog import COLOURS

    cameras = CameraSampler().sample(0, torch.Generator().manual_seed(0), batch_size=2)
    for colour in COLOURS:
        images, _ = render(["mug", "cube"], [colour, colour], cameras, supersample=2)
        assert [off_colour_pixels(image, colour) for image in images] == [0, 0]  # shading and anti-aliasing only
    image = render(["cube"], ["red"], cameras[:1], supersample=2)[0][0]
    assert not has_speck(image, "red")
    image[:, 30:32, 40:42] = torch.tensor([0.2, 0.7, 0.3])[:, None, None]  # a green 2x2 speck
    assert off_colour_pixels(image, "red") == 4 and has_speck(image, "red")


def test_feature_and_sample_checks_run_on_a_world_v2_prior(tmp_path):
    """A seconds-long world-v2 prior: every pair it knows is sampled, mugs and chairs from the
    front and the back, with sample sizes in the summaries."""
    from dream3d.eval.prior_features import check_features
    from dream3d.eval.prior_samples import check_prior, summarise
    from dream3d.prior import TextToImagePrior
    from dream3d.prior.train_shapes import main

    main(["--out", str(tmp_path / "prior"), "--quick"])
    prior = TextToImagePrior.from_pretrained(str(tmp_path / "prior"))
    summary = summarise([c for seed in (0, 1) for c in check_prior(prior, samples=1, steps=2, seed=seed)])
    assert (summary["seen"]["pairs"], summary["held_out"]["pairs"]) == (40, 8)
    assert (summary["seen"]["rows"], summary["held_out"]["rows"]) == (80, 16)  # each pair at both seeds
    assert 0.0 <= summary["seen"]["speck_rate"] <= 1.0
    checks = check_features(prior, samples=1, steps=2, cameras_per_bank=8, supersample=1)
    assert len(checks) == 2 * 6 * 2 and {c.view for c in checks} == {"front", "back"}
    assert sum(c.held_out for c in checks) == 4  # the purple mug and the blue chair, front and back
    features = summarise_features(checks)
    assert features["mug_seen"]["samples"] == 10 and features["chair_held_out"]["samples"] == 2
    again = check_features(prior, samples=1, steps=2, cameras_per_bank=8, supersample=1, seed=1)
    assert {c.seed for c in again} == {1}
    pooled = summarise_features(checks + again)  # two seeds' samples pooled, sample sizes added
    assert pooled["mug_seen"]["samples"] == 20 and pooled["all"]["samples"] == 48
