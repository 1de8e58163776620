"""A tiny random multi-view prior (MVDream layout), built locally and saved as a prior folder."""
from __future__ import annotations

from pathlib import Path

import torch

from tiny_prior import write_char_tokenizer

TINY_UNET = dict(
    sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=32, attention_head_dim=(4, 8), norm_num_groups=32, use_linear_projection=True,
)
"""Heads of 8 channels at every level (diffusers reads ``attention_head_dim`` as heads)."""
HEAD_CHANNELS = 8


def tiny_components(directory: Path, seed: int = 0):
    """``(unet, vae, text_encoder, tokenizer, scheduler)``, random, with MVDream's camera MLP."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from dream3d.prior.multiview import multiview_unet_config

    torch.manual_seed(seed)
    tok_dir = directory.parent / (directory.name + "-tokenizer-src")
    write_char_tokenizer(tok_dir)
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=16, hidden_act="gelu", bos_token_id=0, eos_token_id=1, pad_token_id=1,
    ))
    unet = UNet2DConditionModel(**multiview_unet_config(TINY_UNET))
    with torch.no_grad():  # diffusers zero-initialises nothing here, but make the camera MLP visibly non-zero
        unet.class_embedding.linear_2.weight.normal_(0.0, 0.5)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=32, sample_size=16,
    )
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085,
                              beta_end=0.012, steps_offset=1, clip_sample=False)
    return unet, vae, text_encoder, tokenizer, scheduler


def build_tiny_multiview_prior(directory: Path, seed: int = 0, num_views: int = 4) -> Path:
    """Save a tiny multi-view prior folder (diffusers components and ``multiview.json``)."""
    from dream3d.prior.multiview import MultiViewInfo, save_multiview_prior

    unet, vae, text_encoder, tokenizer, scheduler = tiny_components(directory, seed)
    return save_multiview_prior(directory, unet, vae, text_encoder, tokenizer, scheduler, MultiViewInfo(num_views, 0.0))
