"""A tiny random prior in Zero123's diffusers layout, saved with the libraries' own ``save_pretrained``."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from dream3d.prior.view_conditioned import CameraProjection


def write_tiny_zero123(directory: Path) -> Path:
    """A random Zero123-layout folder at tiny sizes, saved with the libraries' own ``save_pretrained``."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    torch.manual_seed(0)
    UNet2DConditionModel(
        sample_size=8, in_channels=8, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32,
    ).save_pretrained(directory / "unet")
    AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(32, 64), layers_per_block=1,
                  down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                  norm_num_groups=32, sample_size=16).save_pretrained(directory / "vae")
    CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8,
        projection_dim=24,
    )).save_pretrained(directory / "image_encoder")
    CameraProjection(in_channel=24 + 4, out_channel=32).save_pretrained(directory / "cc_projection")
    DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                  clip_sample=False).save_pretrained(directory / "scheduler")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        directory / "feature_extractor")
    (directory / "model_index.json").write_text(json.dumps({
        "_class_name": "Zero1to3StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"], "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
        "cc_projection": ["diffusers_modules.local.pipeline", "CCProjection"], "scheduler": ["diffusers", "DDPMScheduler"],
        "feature_extractor": ["transformers", "CLIPImageProcessor"]}))
    return directory
