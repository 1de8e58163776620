"""OpenCLIP's text tower (``cond_stage_model.model.*``) <-> transformers' ``CLIPTextModel``.

MVDream (like Stable Diffusion 2) encodes prompts with OpenCLIP ViT-H/14's text transformer and
takes the *penultimate* layer, then the final LayerNorm (``FrozenOpenCLIPEmbedder`` with
``layer="penultimate"``): the last residual block is never run. So the ``CLIPTextModel`` here
has one layer fewer than the checkpoint, and ``last_hidden_state`` is exactly MVDream's text
context. Names:

| OpenCLIP | transformers |
|---|---|
| ``token_embedding`` / ``positional_embedding`` | ``embeddings.token_embedding`` / ``embeddings.position_embedding`` |
| ``transformer.resblocks.i.ln_1`` / ``ln_2`` | ``encoder.layers.i.layer_norm1`` / ``layer_norm2`` |
| ``transformer.resblocks.i.attn.in_proj_{weight,bias}`` | ``self_attn.{q,k,v}_proj`` (split in three) |
| ``transformer.resblocks.i.attn.out_proj`` | ``self_attn.out_proj`` |
| ``transformer.resblocks.i.mlp.c_fc`` / ``c_proj`` | ``mlp.fc1`` / ``mlp.fc2`` |
| ``ln_final`` | ``final_layer_norm`` |

Names here are the text transformer's own; transformers before version 5 put them under
``text_model.`` in ``CLIPTextModel.state_dict()`` (``model_prefix`` finds out which).
``text_projection`` and ``logit_scale`` are not used.
"""
from __future__ import annotations

import torch
from torch import Tensor

LAYER = (("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"), ("attn.out_proj", "self_attn.out_proj"),
         ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2"))
UNUSED = ("text_projection", "logit_scale", "attn_mask")
PLACED_IN_LAYER = {f"{name}.{kind}" for name, _ in LAYER for kind in ("weight", "bias")} | {
    "attn.in_proj_weight", "attn.in_proj_bias"}


def resblock_count(state: dict[str, Tensor]) -> int:
    return len({k.split(".")[2] for k in state if k.startswith("transformer.resblocks.")})


def text_encoder_from_openclip(state: dict[str, Tensor], skip_last: int = 1) -> dict[str, Tensor]:
    """``CLIPTextModel`` weights of an OpenCLIP text state dict (prefix removed), without its
    last ``skip_last`` residual blocks (1: the penultimate layer, as MVDream and SD 2 use)."""
    layers = resblock_count(state) - skip_last
    out = {
        "embeddings.token_embedding.weight": state["token_embedding.weight"],
        "embeddings.position_embedding.weight": state["positional_embedding"],
        "final_layer_norm.weight": state["ln_final.weight"],
        "final_layer_norm.bias": state["ln_final.bias"],
    }
    for i in range(layers):
        source, target = f"transformer.resblocks.{i}.", f"encoder.layers.{i}."
        for old, new in LAYER:
            for kind in ("weight", "bias"):
                out[f"{target}{new}.{kind}"] = state[f"{source}{old}.{kind}"]
        for kind in ("weight", "bias"):
            q, k, v = state[f"{source}attn.in_proj_{kind}"].chunk(3, dim=0)
            out[f"{target}self_attn.q_proj.{kind}"] = q
            out[f"{target}self_attn.k_proj.{kind}"] = k
            out[f"{target}self_attn.v_proj.{kind}"] = v
    check_placed(state, layers)
    return out


def check_placed(state: dict[str, Tensor], layers: int) -> None:
    """``KeyError`` for keys that are neither converted, nor skipped blocks, nor known unused ones."""
    top = {"token_embedding.weight", "positional_embedding", "ln_final.weight", "ln_final.bias", *UNUSED}
    unknown = [k for k in state if k not in top and not (
        k.startswith("transformer.resblocks.") and (int(k.split(".")[2]) >= layers
                                                    or k.split(".", 3)[3] in PLACED_IN_LAYER))]
    if unknown:
        raise KeyError(f"{len(unknown)} text-encoder keys match no known module, e.g. {sorted(unknown)[:5]}")


def text_encoder_to_openclip(state: dict[str, Tensor], skipped: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
    """The OpenCLIP layout of ``CLIPTextModel`` weights; ``skipped`` adds the unused last blocks."""
    out = {
        "token_embedding.weight": state["embeddings.token_embedding.weight"],
        "positional_embedding": state["embeddings.position_embedding.weight"],
        "ln_final.weight": state["final_layer_norm.weight"],
        "ln_final.bias": state["final_layer_norm.bias"],
    }
    layers = len({k.split(".")[2] for k in state if k.startswith("encoder.layers.")})
    for i in range(layers):
        source, target = f"encoder.layers.{i}.", f"transformer.resblocks.{i}."
        for old, new in LAYER:
            for kind in ("weight", "bias"):
                out[f"{target}{old}.{kind}"] = state[f"{source}{new}.{kind}"]
        for kind in ("weight", "bias"):
            parts = [state[f"{source}self_attn.{p}_proj.{kind}"] for p in "qkv"]
            out[f"{target}attn.in_proj_{kind}"] = torch.cat(parts, dim=0)
    out.update(skipped or {})
    return out


def model_prefix(model) -> str:
    """``"text_model."`` when ``model.state_dict()`` nests the transformer under it, else ``""``."""
    return "text_model." if any(k.startswith("text_model.") for k in model.state_dict()) else ""


def text_config_from_openclip(state: dict[str, Tensor], head_dim: int = 64, skip_last: int = 1) -> dict:
    """``CLIPTextConfig`` fields of an OpenCLIP text state dict (ViT-H/14: width 1024, 16 heads of 64)."""
    vocab, width = state["token_embedding.weight"].shape
    return {
        "vocab_size": int(vocab),
        "hidden_size": int(width),
        "intermediate_size": int(state["transformer.resblocks.0.mlp.c_fc.weight"].shape[0]),
        "num_hidden_layers": resblock_count(state) - skip_last,
        "num_attention_heads": int(width) // head_dim,
        "max_position_embeddings": int(state["positional_embedding"].shape[0]),
        "hidden_act": "gelu",
        "projection_dim": int(state["text_projection"].shape[1]) if "text_projection" in state else int(width),
    }
