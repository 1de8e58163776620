"""The multi-view prior (MVDream layout): cross-view attention, camera embedding, the converter
from MVDream's checkpoint names, multi-view SDS, the 4-view camera layout, config checks, and
end-to-end runs of the -mv-sd configs on a tiny random multi-view prior."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dream3d.cameras import Cameras, CameraSampler, CameraSamplerConfig
from dream3d.config import ConfigError
from dream3d.prior.key_maps import add_prefix, strip_prefix
from dream3d.prior.multiview_attention import MultiViewAttnProcessor, install_multiview_attention
from dream3d.prior.multiview_camera import camera_features

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mv_prior_dir(tmp_path_factory) -> Path:
    from tiny_multiview_prior import build_tiny_multiview_prior

    return build_tiny_multiview_prior(tmp_path_factory.mktemp("priors") / "tiny-mv")


@pytest.fixture(scope="module")
def mv_prior(mv_prior_dir):
    from dream3d.prior.multiview import MultiViewPrior

    return MultiViewPrior.from_pretrained(str(mv_prior_dir))


@pytest.fixture
def components(tmp_path):
    from tiny_multiview_prior import tiny_components

    return tiny_components(tmp_path / "components")


def unet_inputs(views: int = 4, objects: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    n = views * objects
    return (torch.randn(n, 4, 8, 8, generator=g), torch.full((n,), 500), torch.randn(n, 5, 32, generator=g),
            torch.randn(n, 16, generator=g))


# ---------------------------------------------------------------- cross-view attention
def test_cross_view_attention_with_one_view_is_ordinary_attention(components, one_thread):
    unet = components[0]
    sample, t, text, cameras = unet_inputs()
    with torch.no_grad():
        plain = unet(sample, t, encoder_hidden_states=text, class_labels=cameras).sample
        assert install_multiview_attention(unet, 1) == 4  # transformer blocks: 1 down, 1 mid, 2 up
        one_view = unet(sample, t, encoder_hidden_states=text, class_labels=cameras).sample
        install_multiview_attention(unet, 4)
        four_views = unet(sample, t, encoder_hidden_states=text, class_labels=cameras).sample
    assert torch.equal(one_view, plain)
    assert not torch.allclose(four_views, plain, atol=1e-4)
    processors = unet.attn_processors
    assert all(isinstance(p, MultiViewAttnProcessor) == name.endswith("attn1.processor") for name, p in processors.items())


def test_cross_view_attention_is_attention_over_all_views_tokens(one_thread):
    """[B·V,N,C] -> attention over the V·N tokens of each object, by the same projections."""
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    torch.manual_seed(0)
    attn = Attention(query_dim=16, heads=2, dim_head=8)
    x = torch.randn(2 * 3, 5, 16)  # 2 objects, 3 views, 5 tokens
    with torch.no_grad():
        joined = MultiViewAttnProcessor(AttnProcessor2_0(), 3)(attn, x)
        q, k, v = attn.to_q(x.reshape(2, 15, 16)), attn.to_k(x.reshape(2, 15, 16)), attn.to_v(x.reshape(2, 15, 16))
        split = lambda y: y.view(2, 15, 2, 8).transpose(1, 2)  # noqa: E731
        weights = torch.softmax(split(q) @ split(k).transpose(-1, -2) / math.sqrt(8), dim=-1)
        reference = attn.to_out[0]((weights @ split(v)).transpose(1, 2).reshape(2, 15, 16)).reshape(6, 5, 16)
        x2 = x.clone()
        x2[2] += 1.0  # the last view of object 0
        changed = MultiViewAttnProcessor(AttnProcessor2_0(), 3)(attn, x2)
        per_view = MultiViewAttnProcessor(AttnProcessor2_0(), 1)(attn, x2)
    assert torch.allclose(joined, reference, atol=1e-5)
    assert not torch.allclose(changed[0], joined[0])  # view 0 sees view 2 of its object
    assert torch.equal(changed[3:], joined[3:])  # object 1 does not
    assert torch.allclose(per_view[0], MultiViewAttnProcessor(AttnProcessor2_0(), 1)(attn, x)[0])


# ---------------------------------------------------------------- camera embedding
def mvdream_get_camera(num_frames: int, elevation: float, azimuth_start: float = 0.0) -> np.ndarray:
    """MVDream's own cameras (bytedance/MVDream, mvdream/camera_utils.py, ``get_camera`` with
    ``blender_coord=True``), transcribed as the reference."""
    cameras = []
    for azimuth in np.arange(azimuth_start, 360 + azimuth_start, 360 / num_frames):
        e, a = np.radians(elevation), np.radians(azimuth)
        position = np.array([np.cos(e) * np.sin(a), np.sin(e), np.cos(e) * np.cos(a)])
        forward = -position / np.linalg.norm(position)
        right = np.cross(forward, [0, 1, 0])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        c2w = np.eye(4)
        c2w[:3, :3] = np.stack([right, up / np.linalg.norm(up), -forward], axis=1)
        c2w[:3, 3] = position
        flip_yz = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
        cameras.append((flip_yz @ c2w).flatten())
    return np.stack(cameras)


def test_camera_features_are_mvdreams_cameras():
    cameras = Cameras.from_spherical(torch.full((4,), 15.0), torch.tensor([0.0, 90.0, 180.0, 270.0]),
                                     torch.tensor([2.5, 1.0, 3.0, 2.0]), 40.0, 8, 8)
    features = camera_features(cameras.c2w, yaw_degrees=-90.0)
    assert features.shape == (4, 16)
    assert np.allclose(features.numpy(), mvdream_get_camera(4, 15.0), atol=1e-5)
    assert torch.allclose(features.view(4, 4, 4)[:, :3, 3].norm(dim=-1), torch.ones(4))  # on the unit sphere
    front = camera_features(cameras.c2w[:1])  # yaw 0: OpenGL axes of dream3d's front camera (at +x)
    expected = torch.tensor([[0, 0, 1, math.cos(math.radians(15))], [1, 0, 0, 0], [0, 1, 0, math.sin(math.radians(15))],
                             [0, 0, 0, 1.0]])
    assert torch.allclose(front.view(4, 4)[:, 3], expected[:, 3], atol=1e-6)
    assert torch.allclose(front.view(4, 4)[:3, 0], torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)  # x: right = +y


def test_camera_embedding_is_an_mlp_added_to_the_time_embedding(components, one_thread):
    unet = components[0]
    sample, t, text, cameras = unet_inputs(views=4, objects=1)
    mlp = unet.class_embedding
    with torch.no_grad():
        embedded = mlp(cameras)
        by_formula = mlp.linear_2(F.silu(mlp.linear_1(cameras)))
        seen = {}
        hook = unet.down_blocks[0].resnets[0].time_emb_proj.register_forward_pre_hook(
            lambda module, args: seen.setdefault("input", args[0]))
        out = unet(sample, t, encoder_hidden_states=text, class_labels=cameras).sample
        hook.remove()
        expected = F.silu(unet.time_embedding(unet.time_proj(t)) + embedded)
        moved = unet(sample, t, encoder_hidden_states=text, class_labels=cameras.roll(1, 0)).sample
    assert mlp.linear_1.in_features == 16 and embedded.shape == (4, unet.time_embedding.linear_2.out_features)
    assert torch.allclose(embedded, by_formula)
    assert torch.allclose(seen["input"], expected, atol=1e-6)
    assert not torch.allclose(moved, out, atol=1e-4)


# ---------------------------------------------------------------- the converter
def mvdream_named_checkpoint(components) -> dict:
    """A checkpoint with MVDream's key names, from tiny diffusers components (plus an unused last
    text block, a text projection and a logit scale, as OpenCLIP has)."""
    from dream3d.prior import mvdream_convert as mc
    from dream3d.prior.ldm_vae_keys import vae_to_ldm
    from dream3d.prior.mvdream_unet_keys import unet_key_map
    from dream3d.prior.openclip_keys import model_prefix, text_encoder_to_openclip

    unet, vae, text_encoder = components[:3]
    text = strip_prefix(text_encoder.state_dict(), model_prefix(text_encoder))
    last = {k.replace("resblocks.0.", "resblocks.2."): torch.randn_like(v)
            for k, v in text_encoder_to_openclip(text).items() if k.startswith("transformer.resblocks.0.")}
    last.update(text_projection=torch.randn(32, 16), logit_scale=torch.tensor(4.6))
    return {**add_prefix(unet_key_map(dict(unet.config)).inverse().convert(unet.state_dict()), mc.UNET_PREFIX),
            **add_prefix(vae_to_ldm(vae.state_dict(), 2, 1), mc.VAE_PREFIX),
            **add_prefix(text_encoder_to_openclip(text, last), mc.TEXT_PREFIX)}


def test_converter_restores_every_tensor_and_output(components, tmp_path, one_thread):
    from tiny_multiview_prior import HEAD_CHANNELS

    from dream3d.prior import mvdream_convert as mc
    from dream3d.prior.multiview import MultiViewPrior

    unet, vae, text_encoder, tokenizer, _ = components
    checkpoint = mvdream_named_checkpoint(components)
    for name in ("model.diffusion_model.camera_embed.0.weight", "model.diffusion_model.time_embed.2.bias",
                 "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight",
                 "model.diffusion_model.input_blocks.2.0.op.weight", "model.diffusion_model.middle_block.1.proj_in.weight",
                 "model.diffusion_model.output_blocks.1.0.skip_connection.weight", "model.diffusion_model.out.2.weight",
                 "model.diffusion_model.output_blocks.3.1.transformer_blocks.0.ff.net.0.proj.weight",
                 "first_stage_model.decoder.up.1.block.1.conv1.weight", "first_stage_model.encoder.mid.attn_1.q.weight",
                 "cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight", "cond_stage_model.model.ln_final.bias"):
        assert name in checkpoint, name  # the names of MVDream's sd-v2.1-base-4view.pt
    assert checkpoint["first_stage_model.encoder.mid.attn_1.q.weight"].ndim == 4
    options = mc.ConvertOptions(image_size=16, num_head_channels=HEAD_CHANNELS, text_head_dim=8, dtype=torch.float32)
    folder = mc.convert_to_folder(checkpoint, tokenizer, tmp_path / "converted", options)
    prior = MultiViewPrior.from_pretrained(str(folder))
    for original, converted in ((unet, prior.unet), (vae, prior.vae), (text_encoder, prior.text_encoder)):
        a, b = original.state_dict(), converted.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert prior.num_views == 4 and prior.camera_yaw_degrees == -90.0 and prior.image_size == 16
    sample, t, text, cameras = unet_inputs()
    install_multiview_attention(unet, 4)
    with torch.no_grad():
        assert torch.equal(prior.unet(sample, t, text, class_labels=cameras).sample,
                           unet(sample, t, text, class_labels=cameras).sample)
        ids = tokenizer(["a red cube"], padding="max_length", max_length=16, return_tensors="pt").input_ids
        assert torch.equal(prior.text_encoder(ids)[0], text_encoder(ids)[0])
        image = torch.rand(1, 3, 16, 16)
        assert torch.equal(prior.vae.decode(prior.vae.encode(image).latent_dist.mean).sample,
                           vae.decode(vae.encode(image).latent_dist.mean).sample)


def test_converter_agrees_with_diffusers_single_file_conversion(components):
    """An independent reference: diffusers' own LDM -> diffusers conversion of the same tensors."""
    single_file = pytest.importorskip("diffusers.loaders.single_file_utils")
    from dream3d.prior import mvdream_convert as mc
    from dream3d.prior.ldm_vae_keys import vae_from_ldm
    from dream3d.prior.mvdream_unet_keys import unet_key_map

    unet, vae = components[:2]
    checkpoint = mvdream_named_checkpoint(components)
    ours_unet = unet_key_map(dict(unet.config)).convert(strip_prefix(checkpoint, mc.UNET_PREFIX))
    ours_vae = vae_from_ldm(strip_prefix(checkpoint, mc.VAE_PREFIX))
    try:  # diffusers names MVDream's camera MLP like any projection class embedding: label_emb.0
        theirs_unet = single_file.convert_ldm_unet_checkpoint(
            {k.replace("camera_embed.", "label_emb.0."): v for k, v in checkpoint.items()}, dict(unet.config))
        theirs_vae = single_file.convert_ldm_vae_checkpoint(checkpoint, dict(vae.config))
    except (AttributeError, TypeError) as error:
        pytest.skip(f"diffusers' single-file helpers changed: {error}")
    for ours, theirs in ((ours_unet, theirs_unet), (ours_vae, theirs_vae)):
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_a_text_prior_folder_is_not_a_multiview_prior(tiny_prior_dir):
    from dream3d.prior.multiview import MultiViewPrior
    from dream3d.prior.source import PriorLoadError

    with pytest.raises(PriorLoadError, match="multiview.json"):
        MultiViewPrior.from_pretrained(str(tiny_prior_dir))


# ---------------------------------------------------------------- cameras and multi-view SDS
def test_view_layout_and_unchanged_single_view_draws():
    sampler = CameraSampler(CameraSamplerConfig(views=4, batch_size=2))
    cameras = sampler.sample(0, torch.Generator().manual_seed(3))
    assert len(cameras) == 8
    for obj in range(2):
        views = slice(4 * obj, 4 * obj + 4)
        steps = (cameras.azimuth[views].diff() % 360.0)
        assert torch.allclose(steps, torch.full((3,), 90.0), atol=1e-4)
        assert (cameras.elevation[views] == cameras.elevation[4 * obj]).all()
        assert (cameras.distance[views] == cameras.distance[4 * obj]).all()
    assert ((cameras.azimuth >= -180) & (cameras.azimuth < 180)).all()
    single = CameraSampler(CameraSamplerConfig(batch_size=3)).sample(0, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    draws = [low + (high - low) * torch.rand(3, generator=g) for low, high in ((-10.0, 60.0), (-180.0, 180.0), (2.3, 2.7))]
    assert torch.equal(single.elevation, draws[0]) and torch.equal(single.azimuth, draws[1])
    assert torch.equal(single.distance, draws[2])


def test_multiview_sds_is_one_joint_sds_per_object(mv_prior, one_thread):
    from dream3d.guidance.diffusion import guided_noise
    from dream3d.guidance.multiview_sds import MultiViewSDS
    from dream3d.guidance.sds import GuidanceConfig
    from dream3d.prior.multiview_condition import build_multiview_condition
    from dream3d.prior.prompts import PromptConfig

    guidance = MultiViewSDS(mv_prior, GuidanceConfig(type="multiview-sds", guidance_scale=7.5), 100)
    condition = build_multiview_condition(mv_prior, "a red cube", "", PromptConfig(view_dependent=False, use_cache=False))
    cameras = CameraSampler(CameraSamplerConfig(views=4, batch_size=2)).sample(0, torch.Generator().manual_seed(1))
    latents = torch.randn(8, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(5)
    grad, _ = guidance.latent_gradient(latents, cameras, condition, step=10)
    torch.manual_seed(5)
    t = guidance.schedule.sample(10, 2, latents.device).repeat_interleave(4)
    noise = torch.randn_like(latents)
    cond, uncond = condition.for_cameras(cameras)
    eps_hat = guided_noise(mv_prior, mv_prior.add_noise(latents, noise, t), t, cond, uncond, 7.5)
    w = (1 - mv_prior.alphas_cumprod[t]).view(-1, 1, 1, 1)
    assert torch.allclose(grad, w * (eps_hat - noise), atol=1e-5)
    assert torch.equal(cond.class_labels, uncond.class_labels)  # CFG drops the text, not the cameras
    with torch.no_grad():  # the views of an object are denoised together
        moved = latents.clone()
        moved[3] += 1.0
        a = mv_prior.predict_noise(latents, t, cond)
        b = mv_prior.predict_noise(moved, t, cond)
    assert not torch.allclose(a[0], b[0]) and torch.equal(a[4:], b[4:])
    with pytest.raises(ValueError, match="whole objects"):
        guidance.latent_gradient(latents[:6], cameras[:6], condition, step=10)


# ---------------------------------------------------------------- config checks
def load(config: str, *overrides: str):
    from dream3d.methods import build_recipe, load_config

    run = load_config(REPO / "configs" / config, list(overrides))
    build_recipe(run)
    return run


@pytest.mark.parametrize("config", ["dreamfusion-mv-sd.yaml", "dreamgaussian-mv-sd.yaml", "dreamfusion-mv.yaml",
                                    "dreamgaussian.yaml"])
def test_mv_configs_check_the_prior_guidance_and_views(config, mv_prior_dir, tiny_prior_dir):
    prior = f"system.prior.pretrained={mv_prior_dir}"
    run = load(config, prior)
    assert run.system.camera.views == 4 and run.system.guidance.type == "multiview-sds"
    for overrides, message in (
        (["system.camera.views=2"], "views to 4"),
        (["system.guidance.type=sds"], "multiview-sds"),
        (["system.prior.type=text"], "is a multi-view prior"),
        (["system.prompt_processing.perp_neg.enabled=true"], "Perp-Neg"),
        ([f"system.prior.pretrained={tiny_prior_dir}", "system.prior.type=text"], "needs a multi-view prior"),
    ):
        with pytest.raises(ConfigError, match=message):
            load(config, prior, *overrides)


# ---------------------------------------------------------------- end to end
@pytest.mark.parametrize("config, tiny", [
    ("dreamgaussian-mv-sd.yaml", ["trainer.max_steps=4", "system.refine_steps=2", "system.gaussians.num_points=500",
                                  "system.resolutions=[16,16,16]", "system.texture.camera.height=16",
                                  "system.texture.camera.width=16", "system.backproject.resolution=32",
                                  "system.sdedit.ddim_steps=2", "export.resolution=32"]),
    ("dreamfusion-mv-sd.yaml", ["trainer.max_steps=3", "system.camera.height=16", "system.camera.width=16",
                                "system.nerf.encoding.type=densegrid", "system.nerf.encoding.dense_resolution=16",
                                "system.nerf.hidden_dim=16", "system.renderer.n_samples=16", "export.resolution=32"]),
    ("dreamfusion-mv.yaml", ["trainer.max_steps=3", "system.camera.height=16", "system.camera.width=16",
                             "system.nerf.encoding.dense_resolution=16", "system.nerf.initial_shape.steps=2",
                             "system.renderer.n_samples=16", "export.resolution=32", "export.min_auto_threshold=0.1"]),
])
def test_multiview_run_writes_a_glb(config, tiny, mv_prior_dir, tmp_path, one_thread):
    import json

    import trimesh

    from dream3d.cli import main

    out = tmp_path / "run"
    assert main(["--config", str(REPO / "configs" / config), "--prompt", "a red cube", "--device", "cpu",
                 "--output-dir", str(out), f"system.prior.pretrained={mv_prior_dir}", "trainer.preview_every=0",
                 "trainer.video=false", "trainer.progress_bar=false", "export.texture_size=64", *tiny]) == 0
    mesh = trimesh.load(out / "mesh" / "model.glb", force="mesh")
    assert len(mesh.faces) > 0
    assert "multiview-sds" in (out / "config.yaml").read_text()
    assert json.loads((out / "metrics.json").read_text())["export"]["num_faces"] == len(mesh.faces)
