"""The LDM autoencoder (``first_stage_model.*``) <-> diffusers' ``AutoencoderKL``.

MVDream keeps Stable Diffusion's frozen KL autoencoder in the original LDM layout
(Rombach et al. 2022, ``ldm/modules/diffusionmodules/model.py``):

| LDM | diffusers |
|---|---|
| ``encoder.down.i.block.j`` / ``.downsample.conv`` | ``encoder.down_blocks.i.resnets.j`` / ``.downsamplers.0.conv`` |
| ``decoder.up.(n-1-i).block.j`` / ``.upsample.conv`` | ``decoder.up_blocks.i.resnets.j`` / ``.upsamplers.0.conv`` |
| ``{en,de}coder.mid.block_1`` / ``block_2`` / ``attn_1`` | ``mid_block.resnets.0`` / ``resnets.1`` / ``attentions.0`` |
| ``{en,de}coder.norm_out`` | ``conv_norm_out`` |

Inside ResBlocks ``nin_shortcut`` is ``conv_shortcut``; the mid attention's ``norm, q, k, v,
proj_out`` are ``group_norm, to_q, to_k, to_v, to_out.0``, and its 1x1 convolutions
``[C,C,1,1]`` are linear layers ``[C,C]`` in diffusers.
"""
from __future__ import annotations

from torch import Tensor

from dream3d.prior.key_maps import KeyMap

ATTENTION = (("norm", "group_norm"), ("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("proj_out", "to_out.0"))
RESNET = (("nin_shortcut", "conv_shortcut"),)
LINEAR_IN_DIFFUSERS = ("to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight")


def vae_key_map(levels: int, blocks_per_level: int) -> KeyMap:
    """LDM -> diffusers names of an ``AutoencoderKL`` with ``levels`` resolutions."""
    keys = KeyMap()
    for side in ("encoder", "decoder"):
        keys.add(f"{side}.conv_in", f"{side}.conv_in")
        keys.add(f"{side}.conv_out", f"{side}.conv_out")
        keys.add(f"{side}.norm_out", f"{side}.conv_norm_out")
        keys.add(f"{side}.mid.block_1", f"{side}.mid_block.resnets.0", RESNET)
        keys.add(f"{side}.mid.block_2", f"{side}.mid_block.resnets.1", RESNET)
        keys.add(f"{side}.mid.attn_1", f"{side}.mid_block.attentions.0", ATTENTION)
    for i in range(levels):
        for j in range(blocks_per_level):
            keys.add(f"encoder.down.{i}.block.{j}", f"encoder.down_blocks.{i}.resnets.{j}", RESNET)
        if i < levels - 1:
            keys.add(f"encoder.down.{i}.downsample.conv", f"encoder.down_blocks.{i}.downsamplers.0.conv")
        ldm = levels - 1 - i
        for j in range(blocks_per_level + 1):
            keys.add(f"decoder.up.{ldm}.block.{j}", f"decoder.up_blocks.{i}.resnets.{j}", RESNET)
        if i < levels - 1:
            keys.add(f"decoder.up.{ldm}.upsample.conv", f"decoder.up_blocks.{i}.upsamplers.0.conv")
    keys.add("quant_conv", "quant_conv")
    keys.add("post_quant_conv", "post_quant_conv")
    return keys


def vae_shape(state: dict[str, Tensor]) -> tuple[int, int]:
    """``(levels, ResBlocks per level)`` of an LDM autoencoder state dict."""
    levels = len({k.split(".")[2] for k in state if k.startswith("encoder.down.")})
    blocks = len({k.split(".")[4] for k in state if k.startswith("encoder.down.0.block.")})
    return levels, blocks


def vae_from_ldm(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """diffusers ``AutoencoderKL`` weights of an LDM autoencoder state dict (prefix removed)."""
    converted = vae_key_map(*vae_shape(state)).convert(state)
    return {k: v[:, :, 0, 0] if k.endswith(LINEAR_IN_DIFFUSERS) and v.ndim == 4 else v for k, v in converted.items()}


def vae_to_ldm(state: dict[str, Tensor], levels: int, blocks_per_level: int) -> dict[str, Tensor]:
    """The LDM layout of diffusers ``AutoencoderKL`` weights (1x1 convolutions for the attention)."""
    shaped = {k: v[:, :, None, None] if k.endswith(LINEAR_IN_DIFFUSERS) and v.ndim == 2 else v for k, v in state.items()}
    return vae_key_map(levels, blocks_per_level).inverse().convert(shaped)


def vae_config_from_ldm(state: dict[str, Tensor], image_size: int = 256, scaling_factor: float = 0.18215) -> dict:
    """The ``AutoencoderKL`` config of an LDM autoencoder state dict (from the tensors' shapes)."""
    levels, blocks = vae_shape(state)
    return {
        "in_channels": int(state["encoder.conv_in.weight"].shape[1]),
        "out_channels": int(state["decoder.conv_out.weight"].shape[0]),
        "latent_channels": int(state["post_quant_conv.weight"].shape[1]),
        "block_out_channels": [int(state[f"encoder.down.{i}.block.0.conv2.weight"].shape[0]) for i in range(levels)],
        "layers_per_block": blocks,
        "down_block_types": ["DownEncoderBlock2D"] * levels,
        "up_block_types": ["UpDecoderBlock2D"] * levels,
        "norm_num_groups": 32,
        "sample_size": image_size,
        "scaling_factor": scaling_factor,
        "mid_block_add_attention": "encoder.mid.attn_1.q.weight" in state,
    }
