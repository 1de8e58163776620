"""Loading a prior through diffusers, prompt embeddings, the cache, and OOV refusal."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from dream3d.interfaces import Conditioning

from dream3d.cameras import Cameras
from dream3d.prior import OutOfVocabularyError, PriorLoadError, TextToImagePrior
from dream3d.prior.prompts import PromptConfig, build_text_condition, view_prompts
from dream3d.prior.text_cache import TextEmbeddingCache, model_key


def test_from_pretrained_loads_every_component_in_fp32_on_cpu(tiny_prior_dir):
    prior = TextToImagePrior.from_pretrained(str(tiny_prior_dir))
    assert prior.dtype == torch.float32 and prior.device.type == "cpu"
    assert prior.image_size == 16 and prior.latent_channels == 4
    assert not any(p.requires_grad for p in prior.parameters())
    latents = prior.encode_images(torch.rand(2, 3, 16, 16))
    assert latents.shape == (2, 4, 8, 8)
    eps = prior.predict_noise(latents, torch.tensor([10, 500]), Conditioning(prior.encode_text(["a", "b"])))
    assert eps.shape == latents.shape and torch.isfinite(eps).all()


def test_add_noise_is_the_forward_process(tiny_prior_dir):
    prior = TextToImagePrior.from_pretrained(str(tiny_prior_dir))
    z, eps, t = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8), torch.tensor([300])
    abar = prior.alphas_cumprod[300]
    torch.testing.assert_close(prior.add_noise(z, eps, t), abar.sqrt() * z + (1 - abar).sqrt() * eps)
    from diffusers import DDPMScheduler

    reference = DDPMScheduler.from_pretrained(tiny_prior_dir, subfolder="scheduler").add_noise(z, eps, t)
    torch.testing.assert_close(prior.add_noise(z, eps, t), reference)


def test_view_dependent_prompts_and_cache(tiny_prior_dir, tmp_path):
    assert view_prompts("a red cube", True)["back"] == "a red cube, back view"
    assert view_prompts("a red cube", False)["back"] == "a red cube"
    prior = TextToImagePrior.from_pretrained(str(tiny_prior_dir))
    reference = {t: prior.encode_text([t])[0] for t in ["a red cube, side view", "a red cube, overhead view", ""]}
    embeddings = build_text_condition(prior, "a red cube", "", PromptConfig(), cache_dir=tmp_path)
    assert prior.text_encoder is None  # freed once the embeddings exist
    torch.testing.assert_close(embeddings.by_view["side"], reference["a red cube, side view"])
    torch.testing.assert_close(embeddings.negative, reference[""])
    cameras = Cameras.from_spherical(torch.tensor([80.0, 0.0]), torch.tensor([0.0, 90.0]), torch.tensor([2.5, 2.5]), 40.0, 8, 8)
    cond, uncond = embeddings.for_cameras(cameras)
    torch.testing.assert_close(cond.context[0], reference["a red cube, overhead view"])
    torch.testing.assert_close(cond.context[1], reference["a red cube, side view"])
    torch.testing.assert_close(uncond.context[1], reference[""])
    # a second build reads the cache and needs no text encoder
    again = build_text_condition(prior, "a red cube", "", PromptConfig(), cache_dir=tmp_path)
    torch.testing.assert_close(again.by_view["front"], embeddings.by_view["front"])
    cache = TextEmbeddingCache(model_key(prior.name), tmp_path)
    assert cache.get("a red cube, front view") is not None and cache.get("never embedded") is None


def test_closed_vocabulary_refuses_unknown_words(tiny_prior_dir, tmp_path):
    folder = tmp_path / "closed"
    shutil.copytree(tiny_prior_dir, folder)
    (folder / "vocabulary.json").write_text(json.dumps({"words": ["a", "red", "cube", "front", "side", "back", "overhead", "view"]}))
    prior = TextToImagePrior.from_pretrained(str(folder))
    prior.check_prompt("a red cube, front view")
    with pytest.raises(OutOfVocabularyError) as error:
        build_text_condition(prior, "a shiny red dragon", "", PromptConfig(use_cache=False))
    message = str(error.value)
    assert "dragon" in message and "shiny" in message and "cube" in message and "stable-diffusion-2-1-base" in message
    assert prior.text_encoder is not None  # nothing was embedded


def test_missing_local_folder_and_unreachable_hub_fail_with_a_clear_error(tmp_path):
    with pytest.raises(PriorLoadError, match="dream3d-shapes"):
        TextToImagePrior.from_pretrained(str(tmp_path / "nowhere"))
    with pytest.raises(PriorLoadError, match="Hugging Face"):
        TextToImagePrior.from_pretrained("stabilityai/stable-diffusion-2-1-base")
