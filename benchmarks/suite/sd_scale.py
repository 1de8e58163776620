"""Cost of an SDS step at Stable Diffusion scale, on this CPU, without downloading anything.

A UNet2DConditionModel and an AutoencoderKL with Stable Diffusion 2.1-base's architecture
(``extern/model-configs/stable-diffusion-2-1-base``) get random weights; text embeddings are random ``[77, 1024]``
tensors (the step time does not depend on the values). The scene, cameras and guidance
come from ``configs/dreamfusion-sd.yaml``: 64x64 renders, resized to 512x512, encoded to
64x64 latents, one batched UNet call for classifier-free guidance.

A step is split into render forward, prior forward (resize + VAE encode + UNet), prior
backward (through the VAE encoder to the render), render backward, optimizer and upkeep,
by cutting the graph at the rendered image. The figure of merit is the share of the
step spent outside the prior's forward and backward.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

TINY_UNET = dict(
    sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32,
)
TINY_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(32, 64), layers_per_block=1,
    down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=32,
    sample_size=16,
)
"""The smoke case's stand-ins (the tests' tiny prior)."""

SCENES: dict[str, tuple[str, list[str]]] = {
    "sd": ("configs/dreamfusion-sd.yaml", ["system.renderer.n_samples=64"]),
    "cpu": ("configs/dreamfusion.yaml", ["system.camera.height=64", "system.camera.width=64"]),
}
"""Scenes: the SD config's hash-grid NeRF (torch fallback; 64 instead of 512 samples per ray,
because the pure-torch hash grid keeps ~3 KB of corner indices per sample point), and the
CPU config's dense-grid NeRF rendered at the SD config's 64x64."""

MODES: dict[str, dict] = {
    "smoke": dict(arch="tiny", scenes=("cpu",), steps=2, size=16),
    "quick": dict(arch="sd21-base", scenes=("cpu",), steps=1, size=64),
    "full": dict(arch="sd21-base", scenes=("sd", "cpu"), steps=3, size=64),
}
"""Per mode: the architecture, scenes and steps. With more than one step the first is reported
apart, as warm-up; ``--quick`` times a single step, warm-up included (an upper bound)."""

PRIOR_PARTS = ("prior forward", "prior backward")
PARTS = ("render forward", *PRIOR_PARTS, "render backward", "optimizer", "upkeep")


def build_prior(arch: str):
    """A ``Prior`` with random weights of the given architecture and SD's DDPM schedule."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

    from dream3d.prior.model import TextToImagePrior

    if arch == "sd21-base":  # the architecture shipped in extern/model-configs/stable-diffusion-2-1-base
        from gpu.sd_prior import sd21_base_config

        unet_config, vae_config = sd21_base_config("unet"), sd21_base_config("vae")
    else:
        unet_config, vae_config = TINY_UNET, TINY_VAE
    torch.manual_seed(0)
    unet, vae = UNet2DConditionModel(**unet_config), AutoencoderKL(**vae_config)
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                              steps_offset=1, clip_sample=False, prediction_type="epsilon")
    return TextToImagePrior(unet, vae, None, None, scheduler, name=f"{arch} (random weights)")


def random_prompts(prior, length: int = 77):
    """Random text embeddings ``[length, cross_attention_dim]`` for every view label."""
    from dream3d.cameras import VIEW_SUFFIXES
    from dream3d.prior.prompts import TextCondition

    dim = int(prior.unet.config.cross_attention_dim)
    generator = torch.Generator().manual_seed(0)
    by_view = {label: torch.randn(length, dim, generator=generator) for label in VIEW_SUFFIXES}
    return TextCondition(by_view, torch.randn(length, dim, generator=generator))


def scene_overrides(scene: str, size: int) -> list[str]:
    """The config overrides of ``scene`` rendered at ``size``x``size``."""
    kept = [o for o in SCENES[scene][1] if not o.startswith("system.camera.")]
    return [*kept, f"system.camera.height={size}", f"system.camera.width={size}"]


def build_scene_system(repo: Path, scene: str, size: int, prior, prompts):
    """The NeRF stage of ``scene`` with ``prior`` and a random condition put in, seen as the parts
    that ``timed_step`` times (renderer, sampler, guidance, optimizers, upkeep)."""
    from types import SimpleNamespace

    from dream3d.cameras import CameraSampler
    from dream3d.methods import build_recipe, load_config
    from dream3d.recipe import RecipeRun

    config = load_config(repo / SCENES[scene][0], scene_overrides(scene, size))
    torch.manual_seed(0)
    run = RecipeRun(build_recipe(config), torch.device("cpu"), prior=prior, condition=prompts)
    nerf = run.representations["nerf"]
    return SimpleNamespace(
        config=config, renderer=nerf.renderer, field=nerf.field, sampler=CameraSampler(config.system.camera),
        guidance=run.guidances["distill"], prompts=prompts, optimizers=lambda: run.optimizers(0),
        after_step=lambda step: nerf.upkeep(step, None),
    )


@contextmanager
def _clock(times: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    times[name] = times.get(name, 0.0) + time.perf_counter() - start


def timed_step(system, step: int) -> dict[str, float]:
    """One DreamFusion training step with the graph cut at the render; seconds per part."""
    from dream3d.render.shading import sample_mode

    cfg = system.config.system
    times: dict[str, float] = {}
    optimizers = list(system.optimizers().values())
    for optimizer in optimizers:
        optimizer.zero_grad(set_to_none=True)
    system.renderer.train()
    cameras = system.sampler.sample(step)
    mode = sample_mode(cfg.shading)
    with _clock(times, "render forward"):
        render = system.renderer(cameras, mode)
        images = render.images()  # [B,3,H,W]
        regulariser = cfg.loss.opacity_sparsity * render.alpha.mean()
        if cfg.loss.orientation > 0 and "orientation" in render.extras:
            regulariser = regulariser + cfg.loss.orientation * render.extras["orientation"]
    leaf = images.detach().requires_grad_(True)
    with _clock(times, "prior forward"):
        loss, _ = system.guidance.loss(leaf, cameras, system.prompts, step)
    with _clock(times, "prior backward"):
        (cfg.loss.sds * loss).backward()
    with _clock(times, "render backward"):
        torch.autograd.backward([images, regulariser], [leaf.grad, torch.ones_like(regulariser)])
    with _clock(times, "optimizer"):
        for optimizer in optimizers:
            optimizer.step()
    with _clock(times, "upkeep"):
        system.after_step(step)
    return times


def summarise(steps: list[dict[str, float]]) -> dict:
    """Mean seconds per part over the timed steps, the total, and the share outside the prior."""
    mean = {part: sum(s.get(part, 0.0) for s in steps) / len(steps) for part in PARTS}
    total = sum(mean.values())
    outside = total - sum(mean[p] for p in PRIOR_PARTS)
    return {"seconds": mean, "step_seconds": total, "share_outside_prior": outside / total if total else None}


def run_sd_scale(repo: Path, mode: str) -> dict:
    """Build the prior, then time ``steps`` steps of each scene."""
    settings = MODES[mode]
    start = time.perf_counter()
    prior = build_prior(settings["arch"])
    build_seconds = time.perf_counter() - start
    prompts = random_prompts(prior)
    out: dict = {
        "architecture": settings["arch"],
        "unet_parameters": sum(p.numel() for p in prior.unet.parameters()),
        "vae_parameters": sum(p.numel() for p in prior.vae.parameters()),
        "render_size": settings["size"], "prior_image_size": prior.image_size, "latent_size": prior.latent_size,
        "build_seconds": build_seconds, "threads": torch.get_num_threads(), "scenes": {},
    }
    for scene in settings["scenes"]:
        system = build_scene_system(repo, scene, settings["size"], prior, prompts)
        steps = [timed_step(system, step) for step in range(settings["steps"])]
        timed = steps[1:] or steps
        out["scenes"][scene] = {
            "config": SCENES[scene][0], "overrides": scene_overrides(scene, settings["size"]), "first_step": steps[0],
            "timed_steps": len(timed), "warm_up_excluded": len(steps) > 1, **summarise(timed),
        }
        del system
    return out
