"""Convert MVDream's original checkpoint into a dream3d multi-view prior folder.

    python -m dream3d.prior.mvdream_convert --out extern/priors/mvdream-sd21-4view \\
        [--checkpoint sd-v2.1-base-4view.pt] [--tokenizer stabilityai/stable-diffusion-2-1-base]

MVDream (Shi et al. 2023, arXiv:2308.16512) ships ``sd-v2.1-base-4view.pt`` (hub repository
``MVDream/MVDream``): one LDM state dict with the multi-view UNet under
``model.diffusion_model.`` (camera MLP ``camera_embed.*`` included), Stable Diffusion 2.1's
autoencoder under ``first_stage_model.`` and its OpenCLIP text encoder under
``cond_stage_model.model.``. Each part is renamed to its diffusers / transformers layout
(``mvdream_unet_keys``, ``ldm_vae_keys``, ``openclip_keys``), its config is read from the tensors'
shapes, and every tensor must find its place (``load_state_dict(strict=True)``). The checkpoint
has no tokenizer: Stable Diffusion 2.1's (the same OpenCLIP BPE vocabulary) is used. The
folder gets ``multiview.json`` with 4 views and MVDream's camera yaw (-90°: its front camera
is Blender's -y, dream3d's front is +x).
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from dream3d.prior.key_maps import add_prefix, strip_prefix
from dream3d.prior.ldm_vae_keys import vae_config_from_ldm, vae_from_ldm
from dream3d.prior.multiview import MultiViewInfo, multiview_unet_config, save_multiview_prior
from dream3d.prior.mvdream_unet_keys import unet_config_from_ldm, unet_key_map
from dream3d.prior.openclip_keys import model_prefix, text_config_from_openclip, text_encoder_from_openclip

log = logging.getLogger(__name__)

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model.model."
MVDREAM_REPO, MVDREAM_FILE = "MVDream/MVDream", "sd-v2.1-base-4view.pt"
TOKENIZER_SOURCE = "stabilityai/stable-diffusion-2-1-base"


@dataclass
class ConvertOptions:
    """What the checkpoint does not say (MVDream's ``sd-v2-base.yaml`` values)."""

    image_size: int = 256
    """Training resolution (latents of image_size / 8)."""
    num_head_channels: int = 64
    """Channels per attention head of the UNet."""
    text_head_dim: int = 64
    """Channels per attention head of the text encoder."""
    scale_factor: float = 0.18215
    """Latent scaling of the autoencoder."""
    num_views: int = 4
    """Views the UNet denoises together."""
    camera_yaw_degrees: float = -90.0
    """Yaw that puts dream3d's front camera (+x) on MVDream's (-y)."""
    dtype: torch.dtype = torch.float16
    """Precision of the written weights."""


def ddpm_scheduler():
    """MVDream's noise schedule: LDM's "linear" betas (sqrt-linear from 0.00085 to 0.012, 1000 steps)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         clip_sample=False, steps_offset=1, prediction_type="epsilon")


def convert_unet(state: dict[str, Tensor], options: ConvertOptions, latent_size: int):
    """A ``UNet2DConditionModel`` with MVDream's weights (``state``: keys without ``model.diffusion_model.``)."""
    from diffusers import UNet2DConditionModel

    if "camera_embed.0.weight" not in state:
        raise KeyError("No camera_embed.* in model.diffusion_model: this is not a multi-view (MVDream) checkpoint.")
    config = unet_config_from_ldm(state, latent_size, options.num_head_channels)
    unet = UNet2DConditionModel(**multiview_unet_config(config))
    unet.load_state_dict(unet_key_map(config).convert(state), strict=True)
    return unet


def convert_vae(state: dict[str, Tensor], options: ConvertOptions):
    """An ``AutoencoderKL`` with the LDM autoencoder's weights (keys without ``first_stage_model.``)."""
    from diffusers import AutoencoderKL

    vae = AutoencoderKL(**vae_config_from_ldm(state, options.image_size, options.scale_factor))
    vae.load_state_dict(vae_from_ldm(state), strict=True)
    return vae


def convert_text_encoder(state: dict[str, Tensor], tokenizer, options: ConvertOptions):
    """A ``CLIPTextModel`` with OpenCLIP's text weights up to the penultimate layer."""
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(**text_config_from_openclip(state, options.text_head_dim), pad_token_id=tokenizer.pad_token_id,
                            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    model = CLIPTextModel(config)
    weights = add_prefix(text_encoder_from_openclip(state), model_prefix(model))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]  # a buffer, not a weight
    if missing or unexpected:
        raise KeyError(f"Text encoder: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model


def convert_checkpoint(checkpoint: dict[str, Tensor], tokenizer, options: ConvertOptions | None = None):
    """``(unet, vae, text_encoder, scheduler)`` from MVDream's full state dict."""
    options = options or ConvertOptions()
    vae = convert_vae(strip_prefix(checkpoint, VAE_PREFIX), options)
    latent_size = options.image_size // 2 ** (len(vae.config.block_out_channels) - 1)
    unet = convert_unet(strip_prefix(checkpoint, UNET_PREFIX), options, latent_size)
    text_encoder = convert_text_encoder(strip_prefix(checkpoint, TEXT_PREFIX), tokenizer, options)
    return unet, vae, text_encoder, ddpm_scheduler()


def read_checkpoint(path: Path) -> dict[str, Tensor]:
    """A ``.pt``/``.ckpt`` (optionally under ``state_dict``) or ``.safetensors`` state dict."""
    if Path(path).suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state)


def convert_to_folder(checkpoint: dict[str, Tensor], tokenizer, out: Path, options: ConvertOptions | None = None) -> Path:
    """Write a multi-view prior folder from MVDream's state dict."""
    options = options or ConvertOptions()
    unet, vae, text_encoder, scheduler = convert_checkpoint(checkpoint, tokenizer, options)
    if options.dtype != torch.float32:
        unet, vae, text_encoder = (m.to(options.dtype) for m in (unet, vae, text_encoder))
    info = MultiViewInfo(num_views=options.num_views, camera_yaw_degrees=options.camera_yaw_degrees)
    return save_multiview_prior(Path(out), unet, vae, text_encoder, tokenizer, scheduler, info)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="the multi-view prior folder to write")
    parser.add_argument("--checkpoint", type=Path, help=f"MVDream's {MVDREAM_FILE} (default: download from {MVDREAM_REPO})")
    parser.add_argument("--tokenizer", default=TOKENIZER_SOURCE,
                        help="a diffusers folder or hub id whose tokenizer/ is OpenCLIP's (Stable Diffusion 2.x)")
    parser.add_argument("--fp32", action="store_true", help="write fp32 weights (default fp16)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from transformers import CLIPTokenizer

    path = args.checkpoint
    if path is None:
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(MVDREAM_REPO, MVDREAM_FILE))
    tokenizer = CLIPTokenizer.from_pretrained(args.tokenizer, subfolder="tokenizer")
    options = ConvertOptions(dtype=torch.float32 if args.fp32 else torch.float16)
    out = convert_to_folder(read_checkpoint(path), tokenizer, args.out, options)
    log.info("Wrote the multi-view prior %s (use system.prior.type=multiview system.prior.pretrained=%s)", out, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
