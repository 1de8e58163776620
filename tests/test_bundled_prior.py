"""The bundled prior: primitives, dataset renderer, captions, training script, sampler."""
from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from dream3d.interfaces import Conditioning

from dream3d.render.light import camera_light, world_light

from dream3d.cameras import Cameras
from dream3d.prior import primitives, shapes_data
from dream3d.prior.catalog import COLOURS, SHAPES, is_held_out

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "extern" / "priors" / "dream3d-shapes-v2"


def one_camera(elevation: float, azimuth: float, distance: float = 2.5, size: int = 64) -> Cameras:
    return Cameras.from_spherical(torch.tensor([elevation]), torch.tensor([azimuth]), torch.tensor([distance]), 40.0, size, size)


# ---------------------------------------------------------------- primitives
@pytest.mark.parametrize("shape", SHAPES)
def test_inside_volume_matches_closed_form(shape):
    """Monte Carlo volume of ``inside`` in the [-0.8, 0.8]^3 box equals the spec's solid."""
    generator = torch.Generator().manual_seed(0)
    points = (torch.rand(400_000, 3, generator=generator) * 2.0 - 1.0) * primitives.BOUNDING_RADIUS
    fraction = primitives.inside(shape, points).float().mean().item()
    estimate = fraction * (2.0 * primitives.BOUNDING_RADIUS) ** 3
    assert estimate == pytest.approx(primitives.volume(shape), rel=0.03)


@pytest.mark.parametrize("shape", SHAPES)
def test_bounding_box_is_centred_and_as_specified(shape):
    grid = torch.linspace(-0.8, 0.8, 161)
    points = torch.stack(torch.meshgrid(grid, grid, grid, indexing="ij"), -1).reshape(-1, 3)
    solid = points[primitives.inside(shape, points)]
    low, high = primitives.BOUNDS[shape]
    assert torch.allclose(solid.amin(0), torch.tensor(low), atol=0.011)
    assert torch.allclose(solid.amax(0), torch.tensor(high), atol=0.011)


def test_sdf_values_and_normals_at_known_points():
    p = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.4, 0.4, 0.4]])
    assert primitives.sdf("sphere", p).tolist() == pytest.approx([0.5, -0.5, math.sqrt(0.48) - 0.5], abs=1e-6)
    assert primitives.sdf("cube", p).tolist() == pytest.approx([0.6, -0.4, 0.0], abs=1e-6)
    assert primitives.sdf("torus", torch.tensor([[0.4, 0.0, 0.0], [0.0, 0.0, 0.0]])).tolist() == pytest.approx([-0.15, 0.25])
    assert primitives.sdf("cone", torch.tensor([[0.0, 0.0, 0.7], [0.0, 0.0, -0.6]])).tolist() == pytest.approx([0.2, 0.1], abs=1e-6)
    assert primitives.sdf("cylinder", torch.tensor([[0.7, 0.0, 0.0], [0.0, 0.0, 0.0]])).tolist() == pytest.approx([0.3, -0.4])
    assert primitives.sdf("pyramid", torch.tensor([[0.0, 0.0, 0.45], [0.0, 0.0, -0.45]])).abs().max() < 1e-6
    n = primitives.normals("cube", torch.tensor([[0.4, 0.1, -0.2], [0.0, 0.0, -0.4]]))
    assert torch.allclose(n, torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]), atol=1e-4)
    side = primitives.normals("pyramid", torch.tensor([[0.225, 0.0, 0.0]]))[0]  # mid-height, +x face
    assert torch.allclose(side, torch.tensor([2.0, 0.0, 1.0]) / math.sqrt(5.0), atol=1e-4)


@pytest.mark.parametrize("shape", SHAPES)
def test_trace_lands_on_the_surface(shape):
    cameras = one_camera(25.0, 40.0, size=32)
    origins, directions = (x.reshape(-1, 3) for x in cameras.rays())
    t, hit = primitives.trace(shape, origins, directions)
    assert 50 < int(hit.sum()) < hit.numel()
    points = origins[hit] + t[hit, None] * directions[hit]
    assert primitives.sdf(shape, points).abs().max() < 1e-3
    # The torus hole: a vertical ray through the origin misses it.
    if shape == "torus":
        t, hit = primitives.trace(shape, torch.tensor([[0.0, 0.0, 2.0]]), torch.tensor([[0.0, 0.0, -1.0]]))
        assert not bool(hit[0])


def test_mug_and_chair_sdf_values_at_known_points():
    # before centring (y - 0.115 after): the handle's outermost point (y = 0.55), the body's axis,
    # the middle of the handle's hole (y = 0.41), the centre of the handle's tube (y = 0.50)
    mug = primitives.sdf("mug", torch.tensor([[0.0, 0.55, 0.0], [0.0, 0.0, 0.0], [0.0, 0.41, 0.0], [0.0, 0.50, 0.0]])
                         - torch.tensor([0.0, 0.115, 0.0]))
    assert mug.tolist() == pytest.approx([0.0, -0.32, 0.04, -0.05], abs=1e-6)
    # the seat's centre, a leg's middle, above the backrest's top, in front of the seat
    chair = primitives.sdf("chair", torch.tensor([[0.0, 0.0, 0.0], [0.29, 0.29, -0.3], [-0.31, 0.0, 0.6], [0.45, 0.0, 0.0]]))
    assert chair.tolist() == pytest.approx([-0.05, -0.04, 0.1, 0.1], abs=1e-6)


def test_the_mug_handle_shows_on_the_right_of_the_front_view_and_the_left_of_the_back_view():
    cameras = Cameras.from_spherical(torch.tensor([0.0, 0.0]), torch.tensor([0.0, 180.0]), torch.tensor([2.5, 2.5]), 40.0, 64, 64)
    assert cameras.view_labels() == ["front", "back"]
    _, alpha = shapes_data.render(["mug", "mug"], ["red", "red"], cameras)
    tip = torch.tensor([[[0.0, 0.55 - 0.115 - 0.02, 0.0]]]).expand(2, 1, 3)  # just inside the handle's far end
    uv, _ = cameras.project(tip)
    (front_col, front_row), (back_col, back_row) = uv[0, 0].tolist(), uv[1, 0].tolist()
    assert front_col > 40 and back_col < 24
    assert alpha[0, 0, int(front_row), int(front_col)] == 1.0 and alpha[1, 0, int(back_row), int(back_col)] == 1.0


def test_the_chair_backrest_is_at_minus_x():
    """Seen from +y (a side view), -x is on the right: the backrest rises above the seat there only."""
    cameras = Cameras.from_spherical(torch.tensor([0.0]), torch.tensor([90.0]), torch.tensor([2.5]), 40.0, 64, 64)
    _, alpha = shapes_data.render(["chair"], ["red"], cameras)
    above_seat = alpha[0, 0, :26]  # rows above the seat (the seat is at z in [-0.05, 0.05], around row 32)
    assert above_seat[:, 32:].sum() > 50 and above_seat[:, :32].sum() == 0


def test_captions_use_the_right_article_and_prompts_accept_either_and_any_case():
    from dream3d.prior.catalog import caption, normalise_prompt

    assert caption("orange", "mug", "front") == "an orange mug, front view"
    assert caption("red", "chair") == "a red chair"
    assert caption("orange", None) == "an orange object"
    assert caption(None, "cube", "side") == "a cube, side view"
    assert normalise_prompt("A Orange Cube, Front View") == "an orange cube, front view"
    assert normalise_prompt("an red chair") == "a red chair"
    assert normalise_prompt("A Red Cube") == "a red cube"
    from dream3d.prior.vocabulary import check_words

    check_words("An Orange Mug", shapes_data.vocabulary(), "v2")  # no error: "an", and any case


# ---------------------------------------------------------------- dataset renderer
def test_sphere_silhouette_matches_projected_disc():
    """Coverage of a sphere equals the area of its exact perspective silhouette (a disc)."""
    distance, radius = 2.5, 0.5
    cameras = one_camera(20.0, 30.0, distance)
    _, alpha = shapes_data.render(["sphere"], ["red"], cameras)
    focal = float(cameras.focal()[0])
    disc_radius = focal * radius / math.sqrt(distance**2 - radius**2)  # f * tan(asin(r/d))
    assert float(alpha.sum()) == pytest.approx(math.pi * disc_radius**2, rel=0.02)


@pytest.mark.parametrize("colour", list(COLOURS))
def test_colours_follow_the_spec_shading(colour):
    albedo = torch.tensor(COLOURS[colour])
    light = camera_light()
    assert light[0] < 0 and light[1] < 0 and light[2] < 0  # left, up, towards the camera
    # A cube seen head-on from +x: the centre pixel shows the +x face, normal = -z_camera.
    cameras = one_camera(0.0, 0.0)
    rgb, alpha = shapes_data.render(["cube"], [colour], cameras)
    expected = albedo * (0.35 + 0.65 * float(-light[2]))
    assert alpha[0, 0, 32, 32] == 1.0
    assert torch.allclose(rgb[0, :, 32, 32], expected, atol=1e-4)
    assert torch.allclose(rgb[0, :, 0, 0], torch.ones(3))  # white background
    # A sphere is brightest where its normal points at the light: there it shows its albedo.
    cameras = one_camera(10.0, 70.0)
    rgb, _ = shapes_data.render(["sphere"], [colour], cameras)
    light_world = world_light(cameras.c2w)[0]
    uv, _ = cameras.project((0.5 * light_world)[None, None])
    col, row = (int(v) for v in uv[0, 0])
    assert torch.allclose(rgb[0, :, row, col], albedo, atol=0.01)


def test_held_out_pairs_are_never_rendered_or_captioned():
    pairs = shapes_data.seen_pairs()
    assert len(pairs) == 40 and not any(is_held_out(c, s) for c, s in pairs)
    data = shapes_data.build_dataset(shapes_data.ShapesDataConfig(views_per_pair=1, supersample=1), progress=False)
    assert len(data) == 40 and data.images.dtype == torch.uint8
    assert not any(is_held_out(c, s) for c, s in zip(data.colours, data.shapes))
    rng = random.Random(0)
    held_out = [f"{c} {s}" for s in SHAPES for c in COLOURS if is_held_out(c, s)]
    assert held_out == ["purple sphere", "blue cube", "green cylinder", "yellow cone", "orange torus", "red pyramid",
                        "purple mug", "blue chair"]
    captions = [shapes_data.draw_caption(c, s, v, rng) for c, s, v in zip(data.colours, data.shapes, data.views) for _ in range(200)]
    assert not any(pair in text for text in captions for pair in held_out)
    empty = sum(text == "" for text in captions) / len(captions)
    assert 0.08 < empty < 0.12
    assert any(text.startswith("a ") and "object" in text for text in captions)  # colour-only partials
    assert any(text.startswith("an orange object") for text in captions)
    assert any(text.split(",")[0] in {f"a {s}" for s in SHAPES} for text in captions)  # shape-only partials
    assert any(text.startswith("an orange ") for text in captions) and not any("a orange" in t for t in captions)
    words = set(shapes_data.vocabulary())
    assert all(set(text.replace(",", " ").split()) <= words for text in captions)


def test_tokenizer_spells_every_caption_word_as_one_token(tmp_path):
    from dream3d.prior.train_shapes import build_tokenizer

    tokenizer = build_tokenizer(shapes_data.vocabulary(), tmp_path, 12)
    ids = tokenizer("a purple cylinder, overhead view").input_ids
    assert tokenizer.convert_ids_to_tokens(ids) == [
        "<|startoftext|>", "a</w>", "purple</w>", "cylinder</w>", ",</w>", "overhead</w>", "view</w>", "<|endoftext|>"]


# ---------------------------------------------------------------- training script and sampler
def test_quick_training_run_writes_a_loadable_pipeline(quick_prior):
    from diffusers import StableDiffusionPipeline

    from dream3d.prior import TextToImagePrior

    pipeline = StableDiffusionPipeline.from_pretrained(quick_prior, local_files_only=True)
    assert pipeline.safety_checker is None and pipeline.vae.config.scaling_factor > 0
    words = json.loads((quick_prior / "vocabulary.json").read_text())["words"]
    assert words == shapes_data.vocabulary()
    prior = TextToImagePrior.from_pretrained(str(quick_prior))
    assert (prior.image_size, prior.latent_channels, prior.vae_scale_factor) == (64, 4, 4)
    assert prior.scheduler.config.num_train_timesteps == 1000 and prior.scheduler.config.prediction_type == "epsilon"
    ids = prior.tokenizer("a red cube, back view").input_ids
    assert len(ids) == 8 and ids[-1] == prior.tokenizer.eos_token_id  # CLIP's unknown token is its end token
    assert prior.tokenizer.unk_token_id not in ids[1:-1]
    images = shapes_data.render(["cube"], ["red"], one_camera(20.0, 10.0))[0]
    assert prior.encode_images(images).shape == (1, 4, 16, 16)


def test_either_article_and_any_case_give_the_captions_embedding(quick_prior):
    from dream3d.prior import TextToImagePrior
    from dream3d.prior.prompts import PromptConfig, build_text_condition

    def embedding(prompt: str) -> torch.Tensor:
        prior = TextToImagePrior.from_pretrained(str(quick_prior))
        return build_text_condition(prior, prompt, config=PromptConfig(use_cache=False)).by_view["front"]

    reference = embedding("an orange cube")
    assert torch.equal(embedding("A Orange Cube"), reference) and torch.equal(embedding("a orange cube"), reference)
    assert not torch.equal(embedding("a red cube"), reference)


def test_a_stopped_training_run_continues_to_the_same_weights(tmp_path, monkeypatch):
    """Stop in the VAE stage, in the first UNet phase and in each view-word phase (as a Ctrl-C
    would), rerunning the command each time: the result is the uninterrupted run's, bit for bit,
    and no stage is redone."""
    from safetensors.torch import load_file

    from dream3d.prior import train_shapes

    cfg = train_shapes.quick_config()
    cfg.vae_steps, cfg.unet_steps, cfg.checkpoint_every = 5, 6, 1
    cfg.view_phases = tuple(replace(phase, steps=5) for phase in cfg.view_phases)
    train_shapes.train(tmp_path / "whole", cfg)
    build_models, draw = train_shapes.build_models, shapes_data.draw_caption

    def vae_stopping_at_step_three(*args, **kwargs):
        vae, unet, text_encoder = build_models(*args, **kwargs)
        decode, calls = vae.decode, {"n": 0}

        def counted(*a, **k):
            calls["n"] += 1
            if calls["n"] > 3:
                raise KeyboardInterrupt
            return decode(*a, **k)

        vae.decode = counted
        return vae, unet, text_encoder

    def captions_stopping_after(steps: int):
        calls = {"n": 0}

        def counted(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] > steps * cfg.unet_batch:
                raise KeyboardInterrupt
            return draw(*args, **kwargs)

        return counted

    work = tmp_path / "stopped.work"
    monkeypatch.setattr(train_shapes, "build_models", vae_stopping_at_step_three)
    with pytest.raises(KeyboardInterrupt):
        train_shapes.train(tmp_path / "stopped", cfg)
    assert (work / "vae.ckpt").is_file() and not (work / "vae.pt").exists()
    monkeypatch.setattr(train_shapes, "build_models", build_models)
    monkeypatch.setattr(shapes_data, "draw_caption", captions_stopping_after(3))
    monkeypatch.setattr(shapes_data, "build_dataset", lambda *a, **k: pytest.fail("the dataset is rendered again"))
    with pytest.raises(KeyboardInterrupt):
        train_shapes.train(tmp_path / "stopped", cfg)
    assert not (tmp_path / "stopped").exists() and (work / "vae.pt").is_file() and (work / "unet.ckpt").is_file()
    monkeypatch.setattr(train_shapes, "train_vae", lambda *a, **k: pytest.fail("the VAE is trained again"))
    monkeypatch.setattr(shapes_data, "draw_caption", captions_stopping_after(3 + 3))  # 3 first-phase steps left
    with pytest.raises(KeyboardInterrupt):
        train_shapes.train(tmp_path / "stopped", cfg)
    assert (work / "unet.pt").is_file() and (work / "unet_view1.ckpt").is_file() and not (work / "unet_view1.pt").exists()
    monkeypatch.setattr(shapes_data, "draw_caption", captions_stopping_after(2 + 3))  # 2 left in the first view phase
    with pytest.raises(KeyboardInterrupt):
        train_shapes.train(tmp_path / "stopped", cfg)
    assert (work / "unet_view1.pt").is_file() and (work / "unet_view2.ckpt").is_file() and not (work / "unet_view2.pt").exists()
    monkeypatch.setattr(shapes_data, "draw_caption", draw)
    log = train_shapes.train(tmp_path / "stopped", cfg)
    assert log["images"] == 40 and "unet_view1_final_loss" in log and "unet_view2_final_loss" in log
    for part in ("unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors",
                 "vae/diffusion_pytorch_model.safetensors"):
        whole, resumed = load_file(tmp_path / "whole" / part), load_file(tmp_path / "stopped" / part)
        assert all(torch.equal(whole[k], resumed[k]) for k in whole), part


def test_training_is_reproducible(quick_prior, tmp_path):
    from safetensors.torch import load_file

    from dream3d.prior.train_shapes import main

    main(["--out", str(tmp_path / "again"), "--quick"])
    for part in ("unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"):
        first, second = load_file(quick_prior / part), load_file(tmp_path / "again" / part)
        assert all(torch.equal(first[k], second[k]) for k in first)


def test_sampler_refuses_unknown_words_with_exit_code_2(quick_prior, tmp_path, capsys):
    from dream3d.prior.sample import main

    code = main(["--prior", str(quick_prior), "--prompt", "a red dragon", "--out", str(tmp_path / "x.png")])
    message = capsys.readouterr().err
    assert code == 2 and not (tmp_path / "x.png").exists()
    assert "dragon" in message and "Traceback" not in message
    assert all(word in message for word in ("cube", "purple", "overhead"))


def test_sampler_writes_a_grid(quick_prior, tmp_path):
    import imageio.v2 as imageio

    from dream3d.prior.sample import main

    out = tmp_path / "grid.png"
    assert main(["--prior", str(quick_prior), "--prompt", "a red cube, side view", "--out", str(out), "--n", "4", "--steps", "3"]) == 0
    assert imageio.imread(out).shape == (128, 128, 3)


# ---------------------------------------------------------------- the shipped prior
@pytest.mark.skipif(not (SHIPPED / "model_index.json").is_file(), reason="bundled prior not trained")
def test_shipped_prior_is_trained():
    from dream3d.prior import TextToImagePrior

    size = sum(f.stat().st_size for f in SHIPPED.rglob("*") if f.is_file())
    assert size <= 25 * 2**20
    prior = TextToImagePrior.from_pretrained(str(SHIPPED))
    cameras = one_camera(20.0, 100.0)
    images, _ = shapes_data.render(["cylinder"], ["blue"], cameras)
    latents = prior.encode_images(images)  # [1,4,16,16]
    with torch.no_grad():
        reconstruction = prior.decode_latents(latents)
        assert (reconstruction - images).abs().mean() < 0.03  # the VAE is near-lossless here
        generator = torch.Generator().manual_seed(0)
        noise = torch.randn(4, 4, 16, 16, generator=generator)
        t = torch.tensor([100, 300, 500, 700])
        noisy = prior.add_noise(latents.expand(4, -1, -1, -1), noise, t)
        text = prior.encode_text(["a blue cylinder, side view"] * 4)
        eps = prior.predict_noise(noisy, t, Conditioning(text))
    assert eps.shape == (4, 4, 16, 16)
    assert torch.mean((eps - noise) ** 2) < 0.3  # a trained denoiser, far below predicting zero (1.0)


def test_the_view_phase_text_learning_rate_scales_only_the_text_encoder(tmp_path):
    """``--view-text-lr-scale 0`` leaves the first phase's text encoder as it was, bit for bit,
    while the view phase still trains the UNet."""
    from safetensors.torch import load_file

    from dream3d.prior.train_shapes import main

    main(["--out", str(tmp_path / "first"), "--quick", "--view-steps", "0"])
    main(["--out", str(tmp_path / "frozen_text"), "--quick", "--view-text-lr-scale", "0"])
    first, frozen = (load_file(tmp_path / name / "text_encoder/model.safetensors") for name in ("first", "frozen_text"))
    assert all(torch.equal(first[k], frozen[k]) for k in first)
    first, frozen = (load_file(tmp_path / name / "unet/diffusion_pytorch_model.safetensors") for name in ("first", "frozen_text"))
    assert any(not torch.equal(first[k], frozen[k]) for k in first)
