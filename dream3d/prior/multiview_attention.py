"""Cross-view self-attention for a multi-view UNet (MVDream, Shi et al. 2023, arXiv:2308.16512, sec. 3.1).

MVDream turns the 2D self-attention of every transformer block into "3D" attention: the
tokens of all ``V`` views of one object attend to each other. For hidden states
``x [B·V, N, C]`` (views of one object adjacent in the batch, object-major) the block's
``attn1`` runs on ``x.reshape(B, V·N, C)`` and the result is reshaped back to ``[B·V, N, C]``;
cross-attention to the text (``attn2``) and everything else stays per view. With ``V = 1``
the reshape is the identity and the block is the ordinary one.

This is done with diffusers' public attention-processor API: ``MultiViewAttnProcessor`` wraps
the processor each ``attn1`` already has (``AttnProcessor2_0`` by default), so the attention
arithmetic stays diffusers' own, and ``install_multiview_attention`` sets it with
``unet.set_attn_processor`` on ``attn1`` layers only.
"""
from __future__ import annotations

from torch import Tensor, nn


class MultiViewAttnProcessor:
    """Runs ``inner`` on the tokens of ``num_views`` adjacent batch entries joined into one sequence."""

    def __init__(self, inner, num_views: int):
        if num_views < 1:
            raise ValueError(f"num_views must be >= 1, got {num_views}")
        self.inner = inner
        self.num_views = num_views

    def __call__(self, attn: nn.Module, hidden_states: Tensor, encoder_hidden_states: Tensor | None = None,
                 attention_mask: Tensor | None = None, temb: Tensor | None = None, **kwargs) -> Tensor:
        """``hidden_states [B·V, N, C]`` -> ``[B·V, N, C]``, every view attending to all ``V``."""
        views = self.num_views
        if views == 1:
            return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, **kwargs)
        if encoder_hidden_states is not None or attention_mask is not None:
            raise ValueError("Cross-view attention is self-attention: no encoder states or masks.")
        if hidden_states.ndim != 3:
            raise ValueError(f"Cross-view attention expects tokens [B·V, N, C], got {tuple(hidden_states.shape)}")
        total, tokens, channels = hidden_states.shape
        if total % views:
            raise ValueError(f"The batch ({total}) must hold whole objects of {views} views each.")
        joined = hidden_states.reshape(total // views, views * tokens, channels)  # [B, V·N, C]
        out = self.inner(attn, joined, None, None, temb, **kwargs)
        return out.reshape(total, tokens, channels)


def self_attention_names(unet: nn.Module) -> list[str]:
    """Names of the processors of every transformer block's self-attention (``attn1``)."""
    return [name for name in unet.attn_processors if name.endswith("attn1.processor")]


def install_multiview_attention(unet: nn.Module, num_views: int) -> int:
    """Make every ``attn1`` of ``unet`` span ``num_views`` views; returns how many were wrapped.

    Installing again replaces the view count (the original processor stays the inner one).
    """
    processors = dict(unet.attn_processors)
    wrapped = 0
    for name in self_attention_names(unet):
        inner = processors[name]
        if isinstance(inner, MultiViewAttnProcessor):
            inner = inner.inner
        processors[name] = MultiViewAttnProcessor(inner, num_views)
        wrapped += 1
    if not wrapped:
        raise ValueError("The UNet has no transformer self-attention (attn1) to span the views.")
    unet.set_attn_processor(processors)
    return wrapped
