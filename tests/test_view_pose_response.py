"""The view prior's pose response: 1 for a prior whose estimate turns as the truth does, 0 for one
that ignores the camera, and shapes that look alike from every azimuth left out."""
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


@pytest.mark.parametrize("follow", [1.0, 0.5, 0.0])
def test_the_response_is_the_share_of_the_true_change_the_estimate_follows(prior, monkeypatch, follow):
    monkeypatch.setattr(prior, "predict_noise", oracle(prior, "chair", [0.0, 90.0, 180.0, 270.0], follow))
    row = module.pose_response(prior, "chair", draws=1)
    assert row.azimuths == [90.0, 180.0, 270.0]
    assert row.response == pytest.approx([follow] * 3, abs=1e-3)
    assert row.mean == pytest.approx(follow, abs=1e-3)


def test_a_shape_that_looks_the_same_from_every_azimuth_is_not_scored(prior):
    """A sphere's or a cube's renders at azimuths 0, 90, 180 and 270 are the same image: there
    is nothing to follow."""
    assert module.pose_response(prior, "sphere") is None
    summary = module.summarise_response(module.check_pose_response(prior, shapes=("sphere", "cube", "chair")))
    assert [row["shape"] for row in summary["shapes"]] == ["chair"]
    assert summary["mean"] == summary["shapes"][0]["mean"]
