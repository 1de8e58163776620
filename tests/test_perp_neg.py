"""Perp-Neg (Armandpour et al. 2023): the formula, the view weights, the condition and its use by SDS."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from dream3d.cameras import Cameras
from dream3d.config import ConfigError
from dream3d.guidance.diffusion import classifier_free_guidance, guided_noise
from dream3d.guidance.perp_neg import CONTEXT_KEY, WEIGHTS_KEY, perp_neg_combine, perpendicular_component
from dream3d.interfaces import Conditioning
from dream3d.prior.perp_neg_condition import PerpNegConfig, PromptProcessingConfig, perp_neg_weights

REPO = Path(__file__).resolve().parents[1]


def per_sample_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).flatten(1).sum(1)


def predictions(k: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    shape = (3, 4, 8, 8)
    uncond, pos = torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(shape, generator=g, dtype=torch.float64)
    neg = torch.randn((3, k, 4, 8, 8), generator=g, dtype=torch.float64)
    weights = torch.rand(3, k, generator=g, dtype=torch.float64) * 2
    return uncond, pos, neg, weights


def test_perpendicular_component_removes_the_parallel_part_exactly():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(3, 4, 8, 8, generator=g, dtype=torch.float64), torch.randn(3, 4, 8, 8, generator=g, dtype=torch.float64)
    p = perpendicular_component(a, b)
    scale = a.flatten(1).norm(dim=1) * b.flatten(1).norm(dim=1)
    assert (per_sample_dot(p, b).abs() / scale).max() < 1e-12  # nothing left along b, per sample
    parallel = a - p
    coefficient = per_sample_dot(a, b) / per_sample_dot(b, b)
    assert torch.allclose(parallel, coefficient.view(-1, 1, 1, 1) * b, atol=1e-12)  # what went is along b
    assert torch.equal(perpendicular_component(a, torch.zeros_like(b)), a)
    assert torch.allclose(perpendicular_component(2.0 * b, b), torch.zeros_like(b), atol=1e-12)


def test_with_zero_weights_perp_neg_is_ordinary_cfg():
    uncond, pos, neg, weights = predictions()
    assert torch.allclose(perp_neg_combine(uncond, pos, neg, torch.zeros_like(weights), 7.5),
                          classifier_free_guidance(uncond, pos, 7.5), atol=1e-12)


def test_perp_neg_changes_cfg_only_perpendicular_to_the_positive_direction():
    uncond, pos, neg, weights = predictions(k=2)
    scale = 7.5
    out = perp_neg_combine(uncond, pos, neg, weights, scale)
    cfg = classifier_free_guidance(uncond, pos, scale)
    direction = pos - uncond
    change = out - cfg
    assert (per_sample_dot(change, direction).abs() / (change.flatten(1).norm(dim=1) * direction.flatten(1).norm(dim=1))).max() < 1e-12
    expected = uncond + scale * (direction - sum(
        weights[:, i].view(-1, 1, 1, 1) * perpendicular_component(neg[:, i] - uncond, direction) for i in range(2)))
    assert torch.allclose(out, expected, atol=1e-12)
    parallel = uncond[:, None] + torch.tensor([2.5, -1.0], dtype=torch.float64).view(1, 2, 1, 1, 1) * direction[:, None]
    assert torch.allclose(perp_neg_combine(uncond, pos, parallel, weights, scale), cfg, atol=1e-10)  # overlap is kept


def threestudio_weights(azimuth: float, config: PerpNegConfig) -> list[float]:
    """threestudio's ``get_text_embeddings_perp_neg`` weights (negated there), transcribed as the reference."""
    f = lambda p, r: p[0] * math.exp(-p[1] * r) + p[2]  # noqa: E731 - shifted_expotional_decay
    azimuth = (azimuth + 180) % 360 - 180
    if abs(azimuth) < 90:
        r = 1 - abs(azimuth) / 90
        return [f(config.front_side, r), f(config.side_front, 1 - r)]
    r = 2.0 - abs(azimuth) / 90
    return [f(config.side_back, r), f(config.front_back, r)]


def test_view_weights_are_the_papers_shifted_exponential_decays():
    config = PerpNegConfig(enabled=True)
    azimuths = torch.tensor([0.0, 30.0, -45.0, 89.0, 90.0, 135.0, -170.0, 180.0])
    weights = perp_neg_weights(azimuths, torch.zeros(8, dtype=torch.bool), config)
    expected = torch.tensor([threestudio_weights(float(a), config) for a in azimuths])
    assert torch.allclose(weights, expected, atol=1e-6)
    assert abs(weights[0, 0]) < 1e-3 and math.isclose(weights[0, 1], 1.574, abs_tol=1e-3)  # front: push "side" away
    assert abs(weights[4, 0]) < 1e-3  # side: "side" is not a negative of itself
    assert math.isclose(weights[7, 0], 0.3935, abs_tol=1e-3) and math.isclose(weights[7, 1], 1.967, abs_tol=1e-3)
    assert torch.equal(perp_neg_weights(azimuths, torch.ones(8, dtype=torch.bool), config), torch.zeros(8, 2))


@pytest.fixture(scope="module")
def text_prior(tiny_prior_dir):
    from dream3d.prior.model import TextToImagePrior

    return TextToImagePrior.from_pretrained(str(tiny_prior_dir))


def perp_neg_condition(prior):
    from dream3d.prior.factory import build_condition
    from dream3d.prior.config import PriorConfig

    config = PromptProcessingConfig(use_cache=False, perp_neg=PerpNegConfig(enabled=True))
    return build_condition(prior, PriorConfig(pretrained=prior.name), "a red cube", "", config)


def test_perp_neg_condition_interpolates_views_and_carries_the_negatives(tiny_prior_dir):
    from dream3d.prior.model import TextToImagePrior
    from dream3d.prior.perp_neg_condition import PerpNegCondition

    prior = TextToImagePrior.from_pretrained(str(tiny_prior_dir))  # the condition frees its text encoder
    condition = perp_neg_condition(prior)
    assert isinstance(condition, PerpNegCondition)
    cameras = Cameras.from_spherical(torch.tensor([10.0, 10.0, 10.0, 80.0]), torch.tensor([0.0, 45.0, 180.0, 0.0]),
                                     torch.full((4,), 2.5), 40.0, 8, 8)
    cond, uncond = condition.for_cameras(cameras)
    views, negative = condition.text.by_view, condition.text.negative
    assert torch.allclose(cond.context[0], views["front"]) and torch.allclose(cond.context[2], views["back"])
    assert torch.allclose(cond.context[1], 0.5 * views["front"] + 0.5 * views["side"], atol=1e-6)
    assert torch.equal(cond.context[3], views["overhead"])
    negatives = cond.extras[CONTEXT_KEY]
    assert negatives.shape == (4, 2, *views["front"].shape)
    assert torch.equal(negatives[0, 0], views["front"]) and torch.equal(negatives[0, 1], views["side"])
    assert torch.equal(negatives[2, 0], views["side"]) and torch.equal(negatives[2, 1], views["front"])
    weights = cond.extras[WEIGHTS_KEY]
    assert torch.allclose(weights[:3], perp_neg_weights(cameras.azimuth[:3], torch.zeros(3, dtype=torch.bool), condition.config))
    assert torch.equal(weights[3], torch.zeros(2))
    assert torch.equal(uncond.context, negative.expand(4, *negative.shape)) and not uncond.extras


class LinearPrior:
    """A stand-in prior whose prediction depends on the latents, the timestep and the context."""

    def predict_noise(self, noisy, t, conditioning):
        mean = conditioning.context.float().mean(dim=(1, 2)).view(-1, 1, 1, 1)
        return noisy * mean + t.float().view(-1, 1, 1, 1) * 1e-3 + conditioning.context.float()[:, 0, 0].view(-1, 1, 1, 1)


def test_guided_noise_with_negatives_is_perp_neg_of_separate_predictions():
    prior = LinearPrior()
    g = torch.Generator().manual_seed(0)
    noisy, t = torch.randn(3, 4, 8, 8, generator=g), torch.tensor([10, 500, 900])
    pos, unc, negs = torch.randn(3, 5, 6, generator=g), torch.randn(3, 5, 6, generator=g), torch.randn(3, 2, 5, 6, generator=g)
    weights = torch.rand(3, 2, generator=g)
    cond = Conditioning(pos, extras={CONTEXT_KEY: negs, WEIGHTS_KEY: weights})
    got = guided_noise(prior, noisy, t, cond, Conditioning(unc), 7.5)
    separate = lambda context: prior.predict_noise(noisy, t, Conditioning(context))  # noqa: E731
    expected = perp_neg_combine(separate(unc), separate(pos), torch.stack([separate(negs[:, i]) for i in range(2)], 1),
                                weights, 7.5)
    assert torch.allclose(got, expected, atol=1e-5)
    plain = guided_noise(prior, noisy, t, Conditioning(pos), Conditioning(unc), 7.5)
    assert torch.allclose(plain, classifier_free_guidance(separate(unc), separate(pos), 7.5), atol=1e-5)


def test_sds_with_perp_neg_runs_and_the_config_is_checked(tiny_prior_dir, one_thread):
    from dream3d.guidance.sds import SDS, GuidanceConfig
    from dream3d.methods import build_recipe, load_config
    from dream3d.prior.model import TextToImagePrior

    prior = TextToImagePrior.from_pretrained(str(tiny_prior_dir))
    condition = perp_neg_condition(prior)
    cameras = Cameras.from_spherical(torch.tensor([10.0, 20.0]), torch.tensor([30.0, -150.0]), torch.full((2,), 2.5), 40.0, 16, 16)
    images = torch.rand(2, 3, 16, 16, requires_grad=True)
    loss, stats = SDS(prior, GuidanceConfig(guidance_scale=7.5), 10).loss(images, cameras, condition, 0)
    loss.backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0 and stats["grad_norm"] > 0
    overrides = [f"system.prior.pretrained={tiny_prior_dir}", "system.prompt_processing.perp_neg.enabled=true"]
    run = load_config(REPO / "configs/dreamfusion.yaml", overrides)
    assert run.system.prompt_processing.perp_neg.enabled and run.system.prompt_processing.perp_neg.front_side == (4.0, 0.5, -2.426)
    build_recipe(run)
    with pytest.raises(ConfigError, match="view prompts"):
        build_recipe(load_config(REPO / "configs/dreamfusion.yaml", [*overrides, "system.prompt_processing.view_dependent=false"]))
