"""VSD math and state (ProlificDreamer): the gradient is w(t) (eps_pretrained_cfg - eps_lora),
the pretrained branch is the frozen prior bit for bit, and only the LoRA and camera train."""
from __future__ import annotations

import copy

import pytest
import torch

from dream3d.interfaces import Conditioning

from dream3d.cameras import orbit_cameras
from dream3d.guidance import GUIDANCE, build_guidance
from dream3d.guidance.camera_embedding import CameraEmbedding, camera_condition
from dream3d.guidance.sds import GuidanceConfig, latents_surrogate_loss
from dream3d.guidance.vsd import VSD
from dream3d.guidance.vsd_config import VSDConfig
from dream3d.prior.model import TextToImagePrior
from dream3d.prior.prompts import PromptConfig, build_text_condition


def load(tiny_prior_dir, dtype=torch.float32):
    prior = TextToImagePrior.from_pretrained(str(tiny_prior_dir), dtype=dtype)
    prompts = build_text_condition(prior, "a red cube", "", PromptConfig(use_cache=False))
    return prior, prompts


def vsd_config(**vsd) -> GuidanceConfig:
    return GuidanceConfig(type="vsd", guidance_scale=7.5, weighting="sds", vsd=VSDConfig(**vsd))


def randomise_lora(vsd: VSD, seed: int = 0) -> None:
    """Give the LoRA and the camera embedding non-trivial values (both start as no-ops)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in list(vsd.lora.parameters()) + list(vsd.camera.parameters()):
            p.copy_(0.3 * torch.randn(p.shape, generator=generator))


def test_guidance_registry_builds_vsd(tiny_prior_dir):
    prior, _ = load(tiny_prior_dir)
    assert GUIDANCE["vsd"] is VSD
    assert isinstance(build_guidance(prior, vsd_config(), max_steps=10), VSD)


def test_adapter_disabled_is_the_original_unet(tiny_prior_dir):
    prior, prompts = load(tiny_prior_dir)
    reference = copy.deepcopy(prior.unet)
    vsd = VSD(prior, vsd_config(), max_steps=10)
    randomise_lora(vsd)
    torch.manual_seed(0)
    noisy, t = torch.randn(2, 4, 8, 8), torch.tensor([20, 700])
    cond, _ = prompts.for_cameras(orbit_cameras(2))
    expected = reference(noisy, t, encoder_hidden_states=cond.context).sample
    assert torch.equal(prior.predict_noise(noisy, t, cond), expected)
    lora = vsd.lora_noise(noisy, t, cond, camera_condition(orbit_cameras(2).c2w))
    assert (lora - expected).abs().max() > 1e-3  # the LoRA branch really differs
    assert torch.equal(prior.predict_noise(noisy, t, cond), expected)  # and leaves no trace
    assert prior.unet.class_embedding is None


def fused_lora_unet(vsd: VSD):
    """An independent LoRA branch: adapter merged into plain weights, camera as class embedding."""
    unet = copy.deepcopy(vsd.prior.unet)
    unet.enable_adapters()
    unet.fuse_lora()
    unet.unload_lora()
    unet.class_embedding = copy.deepcopy(vsd.camera)
    return unet


def replay_branches(vsd: VSD, reference, fused, latents, cameras, prompts, step: int):
    """Replay one draw (t, then the noise; seed it first) with independent UNets: ``(abar, noisy,
    eps_pretrained_cfg, eps_lora, eps_cond)``."""
    t = vsd.schedule.sample(step, latents.shape[0], latents.device)
    noise = torch.randn_like(latents)
    abar = vsd.prior.alphas_cumprod[t].view(-1, 1, 1, 1)
    noisy = abar.sqrt() * latents.detach() + (1 - abar).sqrt() * noise
    cond, uncond = prompts.for_cameras(cameras)
    with torch.no_grad():
        eps_c = reference(noisy, t, encoder_hidden_states=cond.context).sample
        eps_u = reference(noisy, t, encoder_hidden_states=uncond.context).sample
        labels = cameras.c2w.reshape(len(cameras), 16)
        eps_lora = fused(noisy, t, encoder_hidden_states=cond.context, class_labels=labels).sample
    return abar, noisy, eps_u + 7.5 * (eps_c - eps_u), eps_lora, eps_c


@pytest.mark.parametrize("weighting_name", ["sds", "uniform"])
def test_latent_gradient_is_weighted_difference(tiny_prior_dir, weighting_name):
    prior, prompts = load(tiny_prior_dir)
    reference = copy.deepcopy(prior.unet)
    config = vsd_config()
    config.weighting = weighting_name
    vsd = VSD(prior, config, max_steps=100)
    randomise_lora(vsd, seed=1)
    fused = fused_lora_unet(vsd)
    cameras = orbit_cameras(2)
    latents = torch.randn(2, 4, 8, 8, requires_grad=True)

    torch.manual_seed(3)
    grad, _ = vsd.latent_gradient(latents, cameras, prompts, step=10)
    torch.manual_seed(3)
    abar, _, eps_pre, eps_lora, eps_c = replay_branches(vsd, reference, fused, latents, cameras, prompts, step=10)
    w = (1 - abar) if weighting_name == "sds" else torch.ones_like(abar)
    torch.testing.assert_close(grad, w * (eps_pre - eps_lora), rtol=1e-4, atol=1e-5)
    assert (eps_lora - eps_c).abs().max() > 1e-3  # the LoRA term is not the pretrained one

    latents_surrogate_loss(latents, grad).backward()
    torch.testing.assert_close(latents.grad, grad)


def test_lora_branch_guidance_over_the_camera(tiny_prior_dir):
    prior, prompts = load(tiny_prior_dir)
    vsd = VSD(prior, vsd_config(lora_guidance_scale=3.0), max_steps=10)
    randomise_lora(vsd)
    noisy, t = torch.randn(1, 4, 8, 8), torch.tensor([400])
    cond, _ = prompts.for_cameras(orbit_cameras(1))
    cams = camera_condition(orbit_cameras(1).c2w)
    guided = vsd.lora_noise(noisy, t, cond, cams)
    vsd.vsd_config.lora_guidance_scale = 1.0
    with_camera = vsd.lora_noise(noisy, t, cond, cams)
    without = vsd.lora_noise(noisy, t, cond, torch.zeros_like(cams))
    torch.testing.assert_close(guided, without + 3.0 * (with_camera - without), rtol=1e-4, atol=1e-5)


def test_camera_dropout_zeroes_the_embedding():
    embedding = CameraEmbedding(out_dim=8, hidden_dim=4)
    torch.nn.init.normal_(embedding.net[-1].weight)
    c2w = orbit_cameras(3).c2w
    flat = camera_condition(c2w, keep=torch.tensor([True, False, True]))
    out = embedding(flat)
    assert torch.equal(out[1], torch.zeros(8))
    assert out[0].abs().sum() > 0 and out[2].abs().sum() > 0
    assert torch.equal(flat[0], c2w[0].reshape(16))


def train(vsd: VSD, prompts, steps: int, image) -> None:
    cameras = orbit_cameras(1, elevation=20.0)
    for step in range(steps):
        vsd.optimizer.zero_grad(set_to_none=True)
        loss, _ = vsd.loss(image, cameras, prompts, step)
        loss.backward()
        vsd.optimizer.step()
        assert torch.isfinite(loss)


def test_training_changes_only_lora_and_camera(tiny_prior_dir):
    prior, prompts = load(tiny_prior_dir)
    frozen = {k: v.clone() for k, v in prior.state_dict().items()}
    vsd = VSD(prior, vsd_config(camera_condition_dropout=0.0, lora_lr=1e-2), max_steps=10)
    trainable = {n for n, p in prior.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    assert all(p.requires_grad for p in vsd.camera.parameters())
    lora_before = {k: v.clone() for k, v in vsd.lora.state_dict().items()}
    camera_before = {k: v.clone() for k, v in vsd.camera.state_dict().items()}

    torch.manual_seed(0)
    image = torch.rand(1, 3, 16, 16, requires_grad=True)
    train(vsd, prompts, steps=2, image=image)

    after = {k.replace(".base_layer", ""): v for k, v in prior.state_dict().items() if ".lora_" not in k}
    assert after.keys() == frozen.keys()
    for name, before in frozen.items():  # pretrained weights untouched, bit for bit
        assert torch.equal(after[name], before), name
    assert prior.unet.class_embedding is None
    assert all(not torch.equal(v, lora_before[k]) for k, v in vsd.lora.state_dict().items())
    assert all(not torch.equal(v, camera_before[k]) for k, v in vsd.camera.state_dict().items())
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_lora_term_sends_no_gradient_to_the_images(tiny_prior_dir):
    prior, prompts = load(tiny_prior_dir)
    vsd = VSD(prior, vsd_config(), max_steps=10)
    randomise_lora(vsd)
    cameras = orbit_cameras(1)
    image = torch.rand(1, 3, 16, 16, requires_grad=True)
    torch.manual_seed(7)
    loss, _ = vsd.loss(image, cameras, prompts, step=0)
    loss.backward()
    full = image.grad.clone()
    image.grad = None
    torch.manual_seed(7)
    latents = prior.encode_images(image).float()
    grad, _ = vsd.latent_gradient(latents, cameras, prompts, step=0)
    latents_surrogate_loss(latents, grad).backward()
    torch.testing.assert_close(full, image.grad)


def test_image_space_adds_the_decoded_gap_between_the_branches(tiny_prior_dir):
    """``space: latent+image``: grad_x = J_E^T w (eps_pre - eps_lora)
    + lambda w (alpha / sigma) (D(z0_lora) - D(z0_pre)), from one draw, z0 = (z_t - sigma eps) / alpha."""
    prior, prompts = load(tiny_prior_dir)
    reference = copy.deepcopy(prior.unet)
    weight = 0.3
    config = GuidanceConfig(type="vsd", guidance_scale=7.5, weighting="sds", space="latent+image", image_weight=weight)
    vsd = VSD(prior, config, max_steps=100)
    randomise_lora(vsd, seed=2)
    fused = fused_lora_unet(vsd)
    cameras = orbit_cameras(1)
    size = prior.image_size
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0), requires_grad=True)

    torch.manual_seed(5)
    loss, stats = vsd.loss(image, cameras, prompts, step=10)
    loss.backward()

    torch.manual_seed(5)
    x = image.detach().clone().requires_grad_(True)
    latents = prior.encode_images(x).float()
    abar, noisy, eps_pre, eps_lora, _ = replay_branches(vsd, reference, fused, latents, cameras, prompts, step=10)
    alpha, sigma = abar.sqrt(), (1 - abar).sqrt()
    with torch.no_grad():
        decoded_lora = prior.decode_latents((noisy - sigma * eps_lora) / alpha)
        decoded_pre = prior.decode_latents((noisy - sigma * eps_pre) / alpha)
    w = 1 - abar
    latent_grad = w * (eps_pre - eps_lora)
    image_grad = w * (alpha / sigma) * (decoded_lora - decoded_pre)
    (latents * latent_grad).sum().backward()  # J_E^T latent_grad
    assert image_grad.abs().max() > 1e-3  # the image term is not empty
    torch.testing.assert_close(image.grad, x.grad + weight * image_grad, rtol=1e-4, atol=1e-5)
    assert stats["image_grad_norm"] == pytest.approx(float(image_grad.norm()), rel=1e-4)


def test_checkpoint_round_trip_restores_the_lora(tiny_prior_dir):
    prior, prompts = load(tiny_prior_dir)
    vsd = VSD(prior, vsd_config(lora_lr=1e-2), max_steps=10)
    torch.manual_seed(0)
    train(vsd, prompts, steps=2, image=torch.rand(1, 3, 16, 16))
    saved = {k: copy.deepcopy(m.state_dict()) for k, m in vsd.state_modules().items()}
    saved_opt = {k: copy.deepcopy(o.state_dict()) for k, o in vsd.optimizers().items()}

    fresh_prior, _ = load(tiny_prior_dir)
    fresh = VSD(fresh_prior, vsd_config(lora_lr=1e-2), max_steps=10)
    for key, module in fresh.state_modules().items():
        module.load_state_dict(saved[key])
    for key, optimizer in fresh.optimizers().items():
        optimizer.load_state_dict(saved_opt[key])
    for key, module in fresh.state_modules().items():
        for name, value in module.state_dict().items():
            assert torch.equal(value, saved[key][name]), (key, name)
    noisy, t = torch.randn(1, 4, 8, 8), torch.tensor([300])
    cond, _ = prompts.for_cameras(orbit_cameras(1))
    cams = camera_condition(orbit_cameras(1).c2w)
    assert torch.equal(vsd.lora_noise(noisy, t, cond, cams), fresh.lora_noise(noisy, t, cond, cams))


def test_fp16_prior_keeps_fp32_lora(tiny_prior_dir):
    try:
        prior, prompts = load(tiny_prior_dir, dtype=torch.float16)
        prior.predict_noise(torch.randn(1, 4, 8, 8), torch.tensor([10]), Conditioning(prompts.negative[None]))
    except RuntimeError as error:  # some CPU builds lack fp16 kernels
        pytest.skip(f"fp16 UNet not runnable on this CPU: {error}")
    vsd = VSD(prior, vsd_config(camera_condition_dropout=0.0), max_steps=10)
    assert all(p.dtype == torch.float32 for p in vsd.lora.parameters())
    assert all(p.dtype == torch.float32 for p in vsd.camera.parameters())
    assert prior.unet.conv_in.weight.dtype == torch.float16
    image = torch.rand(1, 3, 16, 16, requires_grad=True)
    loss, _ = vsd.loss(image, orbit_cameras(1), prompts, step=0)
    loss.backward()
    grads = [p.grad for p in vsd.lora.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
    assert torch.isfinite(image.grad).all()
