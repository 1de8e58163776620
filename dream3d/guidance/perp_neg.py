"""Perp-Neg guidance (Armandpour et al. 2023, "Re-imagine the Negative Prompt Algorithm: Transform
2D Diffusion into 3D, alleviate Janus problem and Beyond", arXiv:2304.04968).

Classifier-free guidance with negative prompts that remove only what the negatives add
*perpendicular* to the positive direction. With ``u = eps(z_t; "")`` (the unconditional
prediction), ``d = eps(z_t; y_pos) - u`` and ``d_i = eps(z_t; y_neg_i) - u``:

    eps_hat = u + s * (d - sum_i w_i * perp(d_i, d)),
    perp(a, b) = a - (<a, b> / |b|^2) * b,

computed per sample over all latent elements. So ``eps_hat - CFG`` is orthogonal to ``d``: the
negatives never weaken the positive prompt itself; with all ``w_i = 0`` this is ordinary CFG.
For 3D, the positive prompt is the view's prompt and the negatives are the other views'
prompts (a back view's negatives are "front view" and "side view"), which pushes the front
feature off the back: the Janus fix. The condition that builds these inputs is
``dream3d.prior.perp_neg_condition``; it marks the conditional ``Conditioning`` with the
negatives' contexts and weights in ``extras`` (``CONTEXT_KEY``, ``WEIGHTS_KEY``), and
``dream3d.guidance.diffusion.guided_noise`` hands such a conditioning to ``perp_neg_noise``.
"""
from __future__ import annotations

import torch
from torch import Tensor

from dream3d.interfaces import Conditioning, Prior

CONTEXT_KEY = "perp_neg.context"
"""``Conditioning.extras`` entry: the negatives' contexts ``[B,K,L,D]``."""
WEIGHTS_KEY = "perp_neg.weights"
"""``Conditioning.extras`` entry: the negatives' weights ``w_i`` ``[B,K]`` (>= 0 removes)."""


def perpendicular_component(a: Tensor, b: Tensor, eps: float = 1e-12) -> Tensor:
    """``a - (<a,b>/|b|^2) b`` per sample, for ``a, b [B,...]`` (zero projection when ``b = 0``)."""
    dot = (a * b).flatten(1).sum(1)
    norm2 = (b * b).flatten(1).sum(1).clamp_min(eps)
    return a - (dot / norm2).view(-1, *([1] * (a.ndim - 1))) * b


def perp_neg_combine(eps_uncond: Tensor, eps_pos: Tensor, eps_neg: Tensor, weights: Tensor, scale: float) -> Tensor:
    """``u + s (d - sum_i w_i perp(d_i, d))`` for ``u, eps_pos [B,C,h,w]``, ``eps_neg [B,K,C,h,w]``, ``weights [B,K]``."""
    direction = eps_pos - eps_uncond
    removed = torch.zeros_like(direction)
    for i in range(eps_neg.shape[1]):
        w = weights[:, i].to(direction.dtype).view(-1, *([1] * (direction.ndim - 1)))
        removed = removed + w * perpendicular_component(eps_neg[:, i] - eps_uncond, direction)
    return eps_uncond + scale * (direction - removed)


def has_negatives(cond: Conditioning) -> bool:
    """Whether ``cond`` carries Perp-Neg negatives."""
    return CONTEXT_KEY in cond.extras


@torch.no_grad()
def perp_neg_noise(prior: Prior, noisy: Tensor, t: Tensor, cond: Conditioning, uncond: Conditioning,
                   scale: float) -> Tensor:
    """Perp-Neg prediction ``[B,C,h,w]`` from one batched call over positive, unconditional, negatives."""
    negatives = cond.extras[CONTEXT_KEY]  # [B,K,L,D]
    weights = cond.extras[WEIGHTS_KEY]  # [B,K]
    batch, k = negatives.shape[:2]
    parts = [Conditioning(cond.context, cond.class_labels, cond.concat), uncond]
    parts += [Conditioning(negatives[:, i], cond.class_labels, cond.concat) for i in range(k)]
    eps = prior.predict_noise(noisy.repeat(2 + k, 1, 1, 1), t.repeat(2 + k), Conditioning.cat(parts))
    eps = eps.view(2 + k, batch, *eps.shape[1:])
    return perp_neg_combine(eps[1], eps[0], eps[2:].transpose(0, 1), weights, scale)
