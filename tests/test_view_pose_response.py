"""The view prior's pose response: 1 for a prior whose estimate turns as far as the truth does, 0
for one that ignores the camera; its alignment: 1 towards the true view, -1 away from it; and
shapes that look alike from every azimuth left out."""
import pytest
import torch

import dream3d.eval.view_pose_response as module
from dream3d.eval.view_prior_samples import true_view
from dream3d.prior.view_conditioned import ViewConditionedPrior
from tiny_zero123 import write_tiny_zero123


@pytest.fixture(scope="module")
def prior(tmp_path_factory) -> ViewConditionedPrior:
    return ViewConditionedPrior.from_pretrained(str(write_tiny_zero123(tmp_path_factory.mktemp("zero123"))))


def oracle(prior, shape: str, azimuths: list[float], follow: float):
    """A ``predict_noise`` whose clean estimate for the i-th camera of a batch is the true latent
    at ``azimuths[i]`` moved ``follow`` of the way from the reference's (eq. 15 solved for eps)."""
    truths = torch.cat([true_view(shape, "red", a, prior.image_size)[0] for a in azimuths])
    latents = prior.encode_images(truths).float()
    wanted = latents[:1] + follow * (latents - latents[:1])

    def predict_noise(noisy, timesteps, conditioning):
        abar = prior.alphas_cumprod[int(timesteps[0])].float()
        return (noisy - abar.sqrt() * wanted[:len(noisy)]) / (1.0 - abar).sqrt()

    return predict_noise


@pytest.mark.parametrize("follow, alignment", [(1.0, 1.0), (0.5, 1.0), (0.0, 0.0), (-1.0, -1.0)])
def test_the_response_is_how_far_the_estimate_follows_the_truth_and_the_alignment_which_way(
        prior, monkeypatch, follow, alignment):
    monkeypatch.setattr(prior, "predict_noise", oracle(prior, "chair", [0.0, 90.0, 180.0, 270.0], follow))
    row = module.pose_response(prior, "chair", draws=1)
    assert row.azimuths == [90.0, 180.0, 270.0]
    assert row.response == pytest.approx([abs(follow)] * 3, abs=1e-3)
    assert row.mean == pytest.approx(abs(follow), abs=1e-3)
    assert row.alignment == pytest.approx([alignment] * 3, abs=1e-3)
    assert row.mean_alignment == pytest.approx(alignment, abs=1e-3)


def test_a_turn_to_the_wrong_side_is_not_aligned(prior, monkeypatch):
    """Asked for azimuth 90, an estimate of the view from 270 (the chair's other side) turns, but
    to the wrong side: its alignment is the cosine between the two true moves, well under 1."""
    monkeypatch.setattr(prior, "predict_noise", oracle(prior, "chair", [0.0, 270.0, 180.0, 90.0], 1.0))
    row = module.pose_response(prior, "chair", draws=1)
    truths = torch.cat([true_view("chair", "red", a, prior.image_size)[0] for a in (0.0, 90.0, 270.0)])
    z = prior.encode_images(truths).float().flatten(1)
    between = float(torch.nn.functional.cosine_similarity(z[1] - z[0], z[2] - z[0], dim=0))
    assert row.alignment[0] == pytest.approx(between, abs=1e-3) and row.alignment[1] == pytest.approx(1.0, abs=1e-3)
    assert between < 0.9


def test_a_shape_that_looks_the_same_from_every_azimuth_is_not_scored(prior):
    """A sphere's or a cube's renders at azimuths 0, 90, 180 and 270 are the same image: there
    is nothing to follow."""
    assert module.pose_response(prior, "sphere") is None
    summary = module.summarise_response(module.check_pose_response(prior, shapes=("sphere", "cube", "chair")))
    assert [row["shape"] for row in summary["shapes"]] == ["chair"]
    assert summary["mean"] == summary["shapes"][0]["mean"]
