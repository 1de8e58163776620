"""Stable Diffusion 2.1-base's architecture with random weights, written as a diffusers folder.

The configs ship in ``extern/model-configs/stable-diffusion-2-1-base`` (no weights, no
download). The folder this writes loads through the same code as the real model
(``TextToImagePrior.from_pretrained``), so a timed run exercises the real loading path. The
tokenizer is a character-level ``CLIPTokenizer`` (SD's BPE vocabulary is not shipped); it
pads to the text encoder's 77 positions, as SD's does, so the shapes and costs are SD's.

``scale="smoke"`` shrinks every width and depth so that the same path runs on a CPU in
seconds.
"""
from __future__ import annotations

import copy
import json
import string
from pathlib import Path
from typing import Literal

import torch

REPO = Path(__file__).resolve().parents[2]
SD21_BASE = REPO / "extern" / "model-configs" / "stable-diffusion-2-1-base"
Scale = Literal["sd21-base", "smoke"]

SMOKE_SHRINK: dict[str, dict] = {
    "unet": dict(block_out_channels=[32, 32, 64, 64], attention_head_dim=[2, 2, 4, 4], cross_attention_dim=32,
                 layers_per_block=1, norm_num_groups=8, sample_size=8),
    "vae": dict(block_out_channels=[8, 16, 16, 16], layers_per_block=1, norm_num_groups=8, sample_size=64),
    "text_encoder": dict(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_hidden_layers=2),
}
"""What ``smoke`` changes: widths and depths only; block types and the 77-token context stay."""


def sd21_base_config(part: Literal["unet", "vae", "text_encoder"], scale: Scale = "sd21-base") -> dict:
    """The shipped config of one component (minus diffusers' bookkeeping keys), shrunk for ``smoke``."""
    config = json.loads((SD21_BASE / part / "config.json").read_text())
    config = {k: v for k, v in config.items() if not k.startswith("_") and k != "architectures"}
    if scale == "smoke":
        config.update(copy.deepcopy(SMOKE_SHRINK[part]))
    return config


def write_character_tokenizer(directory: Path, max_length: int) -> None:
    """A ``CLIPTokenizer`` over single characters (no merges), padding to ``max_length``."""
    from transformers import CLIPTokenizer

    tokens = ["<|startoftext|>", "<|endoftext|>"]
    symbols = list(string.ascii_lowercase + string.digits + ",.'")
    tokens += symbols + [c + "</w>" for c in symbols]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (directory / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"),
                              model_max_length=max_length, pad_token="<|endoftext|>")
    tokenizer.save_pretrained(directory)


def write_random_sd_prior(directory: Path, scale: Scale, device: torch.device, dtype: torch.dtype) -> dict:
    """Build UNet, VAE and text encoder with random weights on ``device``, save them in ``dtype``.

    Returns the parameter counts. Building on the GPU keeps the random initialisation of
    ~1.3 B parameters to seconds.
    """
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    directory = Path(directory)
    torch.manual_seed(0)
    counts = {}
    with torch.device(device):
        parts = {
            "unet": UNet2DConditionModel(**sd21_base_config("unet", scale)),
            "vae": AutoencoderKL(**sd21_base_config("vae", scale)),
            "text_encoder": CLIPTextModel(CLIPTextConfig(**sd21_base_config("text_encoder", scale))),
        }
    for name, module in parts.items():
        counts[name] = sum(p.numel() for p in module.parameters())
        if dtype != torch.float32:
            module.to(dtype)
        module.save_pretrained(directory / name, safe_serialization=True)
        del module
    parts.clear()
    scheduler_config = json.loads((SD21_BASE / "scheduler" / "scheduler_config.json").read_text())
    DDPMScheduler.from_config(scheduler_config).save_pretrained(directory / "scheduler")
    context = sd21_base_config("text_encoder", scale)["max_position_embeddings"]
    write_character_tokenizer(directory / "tokenizer", context)
    model_index = {
        "_class_name": "StableDiffusionPipeline", "scheduler": ["diffusers", "DDPMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
    }
    (directory / "model_index.json").write_text(json.dumps(model_index, indent=2))
    return counts
