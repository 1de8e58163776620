"""DreamGaussian: SDEdit targets, the resolution ramp, and a launch.py run that writes a GLB."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from dream3d.cameras import orbit_cameras
from dream3d.cli import main
from dream3d.guidance.sdedit import SDEditConfig, SDEditTargets
from dream3d.prior.model import TextToImagePrior
from dream3d.prior.prompts import TextCondition

REPO = Path(__file__).resolve().parents[1]


class IdentityVAE(nn.Module):
    """Latents are the image itself (scale 1, no downsampling)."""

    config = SimpleNamespace(scaling_factor=1.0, block_out_channels=(3,))

    def encode(self, x):
        return SimpleNamespace(latent_dist=SimpleNamespace(mean=x))

    def decode(self, z):
        return SimpleNamespace(sample=z)


class OracleUNet(nn.Module):
    """Predicts exactly the noise that separates z_t from a known clean latent."""

    def __init__(self, clean: torch.Tensor, alphas_cumprod: torch.Tensor):
        super().__init__()
        self.clean, self.abar = clean, alphas_cumprod
        self.config = SimpleNamespace(in_channels=3, sample_size=8)
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, z_t, t, encoder_hidden_states, class_labels=None):
        abar = self.abar[t].view(-1, 1, 1, 1)
        clean = self.clean.repeat(z_t.shape[0] // self.clean.shape[0], 1, 1, 1)
        return SimpleNamespace(sample=(z_t - abar.sqrt() * clean) / (1 - abar).sqrt())


def test_sdedit_with_an_oracle_denoiser_returns_the_clean_image():
    """DDIM (eta 0) from any noise level recovers x0 exactly when eps is exact (Song et al. 2021)."""
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    images = torch.rand(1, 3, 8, 8) * 2 - 1  # latents == 2x - 1 of the [0,1] image below
    clean_image = (images + 1) / 2
    prior = TextToImagePrior(OracleUNet(images, torch.as_tensor(scheduler.alphas_cumprod)), IdentityVAE(), None, None, scheduler)
    prompts = TextCondition({k: torch.ones(2, 4) for k in ("front", "side", "back", "overhead")}, torch.zeros(2, 4))
    targets = SDEditTargets(prior, SDEditConfig(guidance_scale=5.0, ddim_steps=10))
    for strength in (0.2, 0.6, 1.0):
        out = targets(clean_image, orbit_cameras(1, height=8, width=8), prompts, strength)
        torch.testing.assert_close(out, clean_image.clamp(0, 1), atol=1e-4, rtol=1e-4)
    assert targets.strength(0, 10) == 0.5 and abs(targets.strength(9, 10) - 0.2) < 1e-9


def test_dreamgaussian_run_writes_a_textured_glb(tiny_prior_dir, tmp_path):
    out = tmp_path / "dg"
    code = main([
        "--config", str(REPO / "configs/dreamgaussian-fast.yaml"), "--prompt", "a blue cone", "--output-dir", str(out),
        f"system.prior.pretrained={tiny_prior_dir}", "trainer.max_steps=8", "system.refine_steps=2",
        "system.gaussians.num_points=500", "system.resolutions=[16,16,24]", "system.texture.camera.height=16",
        "system.texture.camera.width=16", "system.backproject.resolution=32", "system.gaussians.densify.refine_start_iter=2",
        "system.gaussians.densify.refine_every=2", "system.gaussians.densify.refine_stop_iter=6",
        "system.black_background_probability=0.5", "system.sdedit.ddim_steps=4",
        "trainer.video_frames=4", "trainer.video_resolution=32", "trainer.preview_every=4",
        "export.resolution=40", "export.texture_size=64", "export.preview_size=64",
    ])
    assert code == 0
    import imageio.v2 as imageio
    import trimesh

    mesh = trimesh.load(out / "mesh" / "model.glb", force="mesh")
    assert len(mesh.faces) > 50
    assert isinstance(mesh.visual, trimesh.visual.TextureVisuals)
    assert imageio.imread(out / "mesh" / "texture.png").std() > 0
    assert (out / "video.mp4").is_file() and (out / "previews" / "step_000004.png").is_file()


def test_resolution_ramp_and_stage_split(tiny_prior_dir):
    from dream3d.methods import build_recipe, load_config

    config = load_config(REPO / "configs/dreamgaussian-fast.yaml", ["trainer.max_steps=100", "system.refine_steps=20"])
    recipe = build_recipe(config)
    gaussians, refine = recipe.stages
    assert (gaussians.name, gaussians.steps, refine.name, refine.steps) == ("gaussians", 80, "refine", 20)
    assert recipe.starts() == [0, 80] and refine.init_from == "previous" and refine.guidance == "sdedit"
    assert [gaussians.cameras.resolution(s / 80) for s in (0, 23, 24, 47, 48, 79)] == [32, 32, 48, 48, 64, 64]


def _gaussian_ball(n: int = 3000, radius: float = 0.5, rgb=(0.8, 0.3, 0.2)):
    import math

    from dream3d.scene.gaussians import GaussianScene

    generator = torch.Generator().manual_seed(0)
    points = torch.nn.functional.normalize(torch.randn(n, 3, generator=generator), dim=-1) * radius
    quats = torch.zeros(n, 4)
    quats[:, 0] = 1.0
    return GaussianScene.from_tensors(points, torch.full((n, 3), math.log(0.04)), quats,
                                      torch.full((n,), 3.0), torch.tensor(rgb).expand(n, 3))


def test_gaussian_stage_lights_its_renders_with_the_sampled_shading_mode():
    """Lambertian: albedo x (0.35 + 0.65 max(0, n.l)), brighter towards the upper-left light;
    textureless: the same intensity on white albedo."""
    from dream3d.methods import build_recipe, load_config
    from dream3d.representations.gaussians import GaussianRepresentation, GaussianSceneConfig

    representation = GaussianRepresentation(GaussianSceneConfig(black_background_probability=0.0), torch.device("cpu"))
    representation.scene = _gaussian_ball()
    representation.eval()
    cameras = orbit_cameras(1, elevation=20.0, height=48, width=48)
    with torch.no_grad():
        albedo, lit, plain = (representation.render(cameras, mode) for mode in ("albedo", "lambertian", "textureless"))
    solid = albedo.alpha[0, ..., 0] > 0.99
    ratio = lit.rgb[0][solid] / albedo.rgb[0][solid]
    assert ratio.min() > 0.35 - 0.02 and ratio.max() < 1.0 + 1e-4
    torch.testing.assert_close(ratio[:, 0], ratio[:, 1], atol=0.02, rtol=0.0)  # one intensity per pixel
    intensity = plain.rgb[0, ..., 0]
    upper_left, lower_right = intensity[:24, :24][solid[:24, :24]], intensity[24:, 24:][solid[24:, 24:]]
    assert upper_left.mean() > lower_right.mean() + 0.2
    torch.testing.assert_close(plain.rgb[0][solid][:, 0], plain.rgb[0][solid][:, 2])  # white albedo: grey

    config = load_config(REPO / "configs/dreamgaussian-fast.yaml", ["system.shading={probabilities: [0.2, 0.7, 0.1]}"])
    assert build_recipe(config).stages[0].shading.probabilities == (0.2, 0.7, 0.1)
    assert build_recipe(load_config(REPO / "configs/dreamgaussian-fast.yaml", [])).stages[0].shading is None
