"""SDS math (DreamFusion): the gradient reaching the latents is w(t) (eps_hat - eps)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import Tensor, nn

from dream3d.cameras import orbit_cameras
from dream3d.guidance.diffusion import classifier_free_guidance, weighting
from dream3d.guidance.schedules import TimestepConfig, TimestepSchedule
from dream3d.guidance.sds import SDS, GuidanceConfig
from dream3d.prior.model import TextToImagePrior
from dream3d.prior.prompts import TextCondition


class StubUNet(nn.Module):
    """Returns ``cond_value`` for conditional rows and ``uncond_value`` for the rest."""

    def __init__(self, cond_value: torch.Tensor, uncond_value: torch.Tensor):
        super().__init__()
        self.cond_value, self.uncond_value = cond_value, uncond_value
        self.weight = nn.Parameter(torch.zeros(1))
        self.calls = []

    @property
    def dtype(self):
        return torch.float32

    def forward(self, latents, t, encoder_hidden_states, class_labels=None):
        self.calls.append((latents.clone(), t.clone()))
        is_cond = encoder_hidden_states[:, 0, 0] > 0  # cond embeddings are +1, uncond -1
        out = torch.where(is_cond.view(-1, 1, 1, 1), self.cond_value.expand_as(latents), self.uncond_value.expand_as(latents))
        return SimpleNamespace(sample=out)


def make_prior(unet) -> TextToImagePrior:
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(num_train_timesteps=1000)
    return TextToImagePrior(unet, None, None, None, scheduler)


def make_prompts() -> TextCondition:
    by_view = {k: torch.ones(3, 4) for k in ("front", "side", "back", "overhead")}
    return TextCondition(by_view, -torch.ones(3, 4))


@pytest.mark.parametrize("weighting_name", ["sds", "uniform", "fantasia3d"])
def test_latent_gradient_is_weighted_residual(weighting_name):
    torch.manual_seed(0)
    cond, uncond = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    prior = make_prior(StubUNet(cond, uncond))
    config = GuidanceConfig(guidance_scale=7.5, weighting=weighting_name)
    sds = SDS(prior, config, max_steps=100)
    latents = torch.randn(2, 4, 8, 8, requires_grad=True)
    cameras = orbit_cameras(2)

    torch.manual_seed(1)
    grad, _ = sds.latent_gradient(latents, cameras, make_prompts(), step=0)
    # replay the same draws to know t and eps
    torch.manual_seed(1)
    t = sds.schedule.sample(0, 2, latents.device)
    eps = torch.randn_like(latents)
    eps_hat = uncond + 7.5 * (cond - uncond)
    abar = prior.alphas_cumprod[t].view(-1, 1, 1, 1)
    w = {"sds": 1 - abar, "uniform": torch.ones_like(abar), "fantasia3d": abar.sqrt() * (1 - abar)}[weighting_name]
    torch.testing.assert_close(grad, w * (eps_hat - eps))

    # the surrogate loss delivers exactly that gradient to the latents
    from dream3d.guidance.sds import latents_surrogate_loss

    latents_surrogate_loss(latents, grad).backward()
    torch.testing.assert_close(latents.grad, grad)


def test_unet_sees_the_forward_diffused_latents():
    cond = torch.zeros(1, 4, 8, 8)
    unet = StubUNet(cond, cond)
    prior = make_prior(unet)
    sds = SDS(prior, GuidanceConfig(), max_steps=10)
    latents = torch.randn(1, 4, 8, 8)
    torch.manual_seed(3)
    sds.latent_gradient(latents, orbit_cameras(1), make_prompts(), step=0)
    torch.manual_seed(3)
    t = sds.schedule.sample(0, 1, latents.device)
    eps = torch.randn_like(latents)
    abar = prior.alphas_cumprod[t]
    expected = abar.sqrt() * latents + (1 - abar).sqrt() * eps
    noisy, timesteps = unet.calls[0]
    torch.testing.assert_close(noisy[:1], expected)
    assert int(timesteps[0]) == int(t)


def test_gradient_is_zero_when_prediction_equals_noise():
    """With a UNet that predicts the true noise (known via a fixed seed), grad = 0."""
    latents = torch.randn(1, 4, 8, 8)
    torch.manual_seed(5)
    TimestepSchedule(TimestepConfig(), 1000, 10).sample(0, 1, latents.device)  # the draw SDS makes first
    eps = torch.randn_like(latents)
    prior = make_prior(StubUNet(eps, eps))
    sds = SDS(prior, GuidanceConfig(guidance_scale=100.0), max_steps=10)
    torch.manual_seed(5)
    grad, _ = sds.latent_gradient(latents, orbit_cameras(1), make_prompts(), step=0)
    assert grad.abs().max() == 0.0


def test_classifier_free_guidance_combination():
    uncond, cond = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 0.0])
    torch.testing.assert_close(classifier_free_guidance(uncond, cond, 1.0), cond)
    torch.testing.assert_close(classifier_free_guidance(uncond, cond, 0.0), uncond)
    torch.testing.assert_close(classifier_free_guidance(uncond, cond, 7.5), torch.tensor([16.0, 13.0]))


def test_grad_clip_bounds_every_element():
    cond, uncond = torch.full((1, 4, 8, 8), 50.0), torch.zeros(1, 4, 8, 8)
    sds = SDS(make_prior(StubUNet(cond, uncond)), GuidanceConfig(grad_clip=0.5, weighting="uniform"), max_steps=10)
    grad, _ = sds.latent_gradient(torch.zeros(1, 4, 8, 8), orbit_cameras(1), make_prompts(), step=0)
    assert grad.abs().max() <= 0.5 and grad.max() == 0.5


def test_timestep_annealing_and_deterministic_schedule():
    schedule = TimestepSchedule(TimestepConfig(min_step_percent=0.02, max_step_percent=0.98, max_step_percent_end=0.5), 1000, 100)
    assert schedule.bounds(0) == (20, 980)
    assert schedule.bounds(50) == (20, 740)
    assert schedule.bounds(100) == (20, 500)
    t = schedule.sample(100, 10_000, torch.device("cpu"))
    assert t.min() >= 20 and t.max() <= 500
    det = TimestepSchedule(TimestepConfig(schedule="deterministic", max_step_percent_end=0.98), 1000, 100)
    assert int(det.sample(0, 1, torch.device("cpu"))) == 980
    assert int(det.sample(100, 1, torch.device("cpu"))) == 20
    assert int(det.sample(50, 1, torch.device("cpu"))) == 500


def test_weighting_values():
    abar = torch.tensor([0.9, 0.5, 0.1])
    t = torch.arange(3)
    torch.testing.assert_close(weighting("sds", abar, t), 1 - abar)
    torch.testing.assert_close(weighting("fantasia3d", abar, t), abar.sqrt() * (1 - abar))
    with pytest.raises(ValueError):
        weighting("nope", abar, t)


class StubVAE(nn.Module):
    """Encoder: 4x average pooling of [-1,1] images plus a zero channel; decoder: its inverse
    (nearest upsampling of the first three channels), so D(z0_hat) is known in closed form."""

    config = SimpleNamespace(scaling_factor=1.0, block_out_channels=[1, 1, 1])
    dtype = torch.float32

    def encode(self, x):
        pooled = nn.functional.avg_pool2d(x, 4)
        mean = torch.cat([pooled, torch.zeros_like(pooled[:, :1])], 1)
        return SimpleNamespace(latent_dist=SimpleNamespace(mean=mean))

    def decode(self, z):
        return SimpleNamespace(sample=nn.functional.interpolate(z[:, :3], scale_factor=4.0, mode="nearest"))


def stub_vae_prior() -> tuple[TextToImagePrior, Tensor, Tensor]:
    """A prior with ``StubVAE`` whose UNet predicts fixed noises ``cond`` and ``uncond`` ``[1,4,8,8]``."""
    from diffusers import DDPMScheduler

    torch.manual_seed(0)
    cond, uncond = 0.1 * torch.randn(1, 4, 8, 8), 0.1 * torch.randn(1, 4, 8, 8)
    unet = StubUNet(cond, uncond)
    unet.config = SimpleNamespace(in_channels=4, sample_size=8)
    return TextToImagePrior(unet, StubVAE(), None, None, DDPMScheduler(num_train_timesteps=1000)), cond, uncond


def replayed_draw(prior: TextToImagePrior, sds: SDS, images: Tensor, cond: Tensor, uncond: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The draw of ``sds.loss`` at step 0 under seed 1, by hand: the latent gradient
    ``w (eps_hat - eps)``, the image gradient ``w (alpha/sigma) (x - D(z0_hat))`` and ``D(z0_hat)``."""
    torch.manual_seed(1)
    t = sds.schedule.sample(0, 1, images.device)
    eps = torch.randn(1, 4, 8, 8)
    abar = prior.alphas_cumprod[t].view(-1, 1, 1, 1)
    noisy = abar.sqrt() * prior.encode_images(images).detach() + (1 - abar).sqrt() * eps
    eps_hat = uncond + 7.5 * (cond - uncond)  # CFG at scale 7.5
    z0_hat = (noisy - (1 - abar).sqrt() * eps_hat) / abar.sqrt()
    decoded = (nn.functional.interpolate(z0_hat[:, :3], scale_factor=4.0) * 0.5 + 0.5).clamp(0, 1)
    image_grad = (1 - abar) * (abar.sqrt() / (1 - abar).sqrt()) * (images.detach() - decoded)
    return (1 - abar) * (eps_hat - eps), image_grad, decoded


def test_image_space_gradient_pulls_the_render_towards_the_decoded_estimate():
    """HiFA's image-space SDS: grad_x = w(t) (alpha/sigma) (x - D((z_t - sigma eps_hat) / alpha))."""
    prior, cond, uncond = stub_vae_prior()
    sds = SDS(prior, GuidanceConfig(guidance_scale=7.5, space="image"), max_steps=100)
    images = torch.rand(1, 3, 32, 32, requires_grad=True)

    torch.manual_seed(1)
    loss, _ = sds.loss(images, orbit_cameras(1), make_prompts(), step=0)
    loss.backward()
    _, image_grad, decoded = replayed_draw(prior, sds, images.detach(), cond, uncond)
    torch.testing.assert_close(images.grad, image_grad)
    # a descent step moves the render towards the decoded estimate
    stepped = images.detach() - 0.1 * images.grad
    assert (stepped - decoded).abs().sum() < (images.detach() - decoded).abs().sum()


def test_latent_and_image_space_sum_both_terms_of_one_draw():
    """HiFA's loss: grad_x = J_E^T w (eps_hat - eps) + lambda_rgb w (alpha/sigma) (x - D(z0_hat)), one draw."""
    prior, cond, uncond = stub_vae_prior()
    weight = 0.3
    sds = SDS(prior, GuidanceConfig(guidance_scale=7.5, space="latent+image", image_weight=weight), max_steps=100)
    images = torch.rand(1, 3, 32, 32, requires_grad=True)

    torch.manual_seed(1)
    loss, stats = sds.loss(images, orbit_cameras(1), make_prompts(), step=0)
    loss.backward()
    x = images.detach().clone().requires_grad_(True)
    latent_grad, image_grad, _ = replayed_draw(prior, sds, x, cond, uncond)
    (prior.encode_images(x) * latent_grad).sum().backward()  # J_E^T latent_grad
    torch.testing.assert_close(images.grad, x.grad + weight * image_grad)
    assert stats["grad_norm"] == pytest.approx(float(latent_grad.norm()), rel=1e-5)
    assert stats["image_grad_norm"] == pytest.approx(float(image_grad.norm()), rel=1e-5)


def test_image_space_is_refused_for_vsd():
    from dream3d.guidance.vsd import VSD

    prior = make_prior(StubUNet(torch.zeros(1), torch.zeros(1)))
    with pytest.raises(ValueError, match="space"):
        VSD(prior, GuidanceConfig(type="vsd", space="image"), max_steps=10)
