"""MVDream's UNet (``MultiViewUNetModel``, LDM layout) <-> diffusers' ``UNet2DConditionModel``.

MVDream's checkpoint (``sd-v2.1-base-4view.pt``, keys under ``model.diffusion_model.``) keeps
the original LDM module names (Rombach et al. 2022; bytedance/MVDream,
``mvdream/ldm/modules/diffusionmodules/openaimodel.py``). With ``L`` ResBlocks per level:

| LDM (MVDream) | diffusers |
|---|---|
| ``time_embed.0`` / ``.2`` | ``time_embedding.linear_1`` / ``linear_2`` |
| ``camera_embed.0`` / ``.2`` | ``class_embedding.linear_1`` / ``linear_2`` (``class_embed_type="projection"``) |
| ``input_blocks.0.0`` | ``conv_in`` |
| ``input_blocks.{1+i(L+1)+j}.0`` / ``.1`` | ``down_blocks.i.resnets.j`` / ``attentions.j`` |
| ``input_blocks.{(i+1)(L+1)}.0.op`` | ``down_blocks.i.downsamplers.0.conv`` |
| ``middle_block.0`` / ``.1`` / ``.2`` | ``mid_block.resnets.0`` / ``attentions.0`` / ``resnets.1`` |
| ``output_blocks.{i(L+1)+j}.0`` / ``.1`` | ``up_blocks.i.resnets.j`` / ``attentions.j`` (j <= L) |
| ``output_blocks.{i(L+1)+L}.{1 or 2}.conv`` | ``up_blocks.i.upsamplers.0.conv`` (2 after an attention) |
| ``out.0`` / ``out.2`` | ``conv_norm_out`` / ``conv_out`` |

Inside a ResBlock ``in_layers.0, in_layers.2, emb_layers.1, out_layers.0, out_layers.3,
skip_connection`` are ``norm1, conv1, time_emb_proj, norm2, conv2, conv_shortcut``; inside a
``SpatialTransformer3D`` the names are diffusers' ``Transformer2DModel``'s already (``norm``,
``proj_in``, ``transformer_blocks.d.attn1.to_q``, ``ff.net.0.proj``, ``proj_out``, ...).
"""
from __future__ import annotations

from torch import Tensor

from dream3d.prior.key_maps import KeyMap

RESNET = (("in_layers.0", "norm1"), ("in_layers.2", "conv1"), ("emb_layers.1", "time_emb_proj"),
          ("out_layers.0", "norm2"), ("out_layers.3", "conv2"), ("skip_connection", "conv_shortcut"))
"""LDM ResBlock parameter names -> diffusers ResnetBlock2D's."""

CROSS_ATTENTION_DOWN, PLAIN_DOWN = "CrossAttnDownBlock2D", "DownBlock2D"
CROSS_ATTENTION_UP, PLAIN_UP = "CrossAttnUpBlock2D", "UpBlock2D"


def unet_key_map(config: dict) -> KeyMap:
    """LDM -> diffusers names of a ``UNet2DConditionModel`` with ``config`` (a dict of its config)."""
    per_level = int(config["layers_per_block"])
    down, up = list(config["down_block_types"]), list(config["up_block_types"])
    keys = KeyMap()
    keys.add("time_embed.0", "time_embedding.linear_1")
    keys.add("time_embed.2", "time_embedding.linear_2")
    keys.add("camera_embed.0", "class_embedding.linear_1")
    keys.add("camera_embed.2", "class_embedding.linear_2")
    keys.add("input_blocks.0.0", "conv_in")
    for i, kind in enumerate(down):
        for j in range(per_level):
            index = 1 + i * (per_level + 1) + j
            keys.add(f"input_blocks.{index}.0", f"down_blocks.{i}.resnets.{j}", RESNET)
            if kind == CROSS_ATTENTION_DOWN:
                keys.add(f"input_blocks.{index}.1", f"down_blocks.{i}.attentions.{j}")
        if i < len(down) - 1:
            keys.add(f"input_blocks.{(i + 1) * (per_level + 1)}.0.op", f"down_blocks.{i}.downsamplers.0.conv")
    keys.add("middle_block.0", "mid_block.resnets.0", RESNET)
    keys.add("middle_block.1", "mid_block.attentions.0")
    keys.add("middle_block.2", "mid_block.resnets.1", RESNET)
    for i, kind in enumerate(up):
        attention = kind == CROSS_ATTENTION_UP
        for j in range(per_level + 1):
            index = i * (per_level + 1) + j
            keys.add(f"output_blocks.{index}.0", f"up_blocks.{i}.resnets.{j}", RESNET)
            if attention:
                keys.add(f"output_blocks.{index}.1", f"up_blocks.{i}.attentions.{j}")
        if i < len(up) - 1:
            last = i * (per_level + 1) + per_level
            keys.add(f"output_blocks.{last}.{2 if attention else 1}.conv", f"up_blocks.{i}.upsamplers.0.conv")
    keys.add("out.0", "conv_norm_out")
    keys.add("out.2", "conv_out")
    return keys


def unet_config_from_ldm(state: dict[str, Tensor], latent_size: int = 32, num_head_channels: int = 64,
                         upcast_attention: bool = False) -> dict:
    """The ``UNet2DConditionModel`` config of an LDM/MVDream UNet state dict (prefix removed).

    Read from the tensors' shapes: channels per level, ResBlocks per level, which levels have
    attention, transformer depth, text width, linear or 1x1-conv projections, the camera MLP.
    ``num_head_channels`` is MVDream's (64); it is not in the shapes.
    """
    per_level = next(k for k in range(1, 64) if f"input_blocks.{k + 1}.0.op.weight" in state
                     or f"input_blocks.{k + 1}.0.in_layers.0.weight" not in state)
    inputs = {int(k.split(".")[1]) for k in state if k.startswith("input_blocks.")}
    levels = (max(inputs) + 1) // (per_level + 1)
    first = [1 + i * (per_level + 1) for i in range(levels)]
    channels = [int(state[f"input_blocks.{b}.0.out_layers.3.weight"].shape[0]) for b in first]
    attention = [f"input_blocks.{b}.1.proj_in.weight" in state for b in first]
    proj_in = state["middle_block.1.proj_in.weight"]
    depth = len({k.split(".")[3] for k in state if k.startswith("middle_block.1.transformer_blocks.")})
    config = {
        "sample_size": latent_size,
        "in_channels": int(state["input_blocks.0.0.weight"].shape[1]),
        "out_channels": int(state["out.2.weight"].shape[0]),
        "layers_per_block": per_level,
        "block_out_channels": channels,
        "down_block_types": [CROSS_ATTENTION_DOWN if a else PLAIN_DOWN for a in attention],
        "up_block_types": [CROSS_ATTENTION_UP if a else PLAIN_UP for a in reversed(attention)],
        "cross_attention_dim": int(state["middle_block.1.transformer_blocks.0.attn2.to_k.weight"].shape[1]),
        "attention_head_dim": [c // num_head_channels for c in channels],  # diffusers reads this as heads
        "transformer_layers_per_block": depth,
        "use_linear_projection": proj_in.ndim == 2,
        "upcast_attention": upcast_attention,
        "norm_num_groups": 32,
    }
    if "camera_embed.0.weight" in state:
        config.update(class_embed_type="projection",
                      projection_class_embeddings_input_dim=int(state["camera_embed.0.weight"].shape[1]))
    return config
