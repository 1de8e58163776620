"""The binary entropy of a render's per-pixel opacity, a regulariser that makes it 0 or 1.

``H(a) = -a log a - (1 - a) log(1 - a)``, averaged over pixels, with ``a`` clamped to
``[eps, 1 - eps]`` so that the gradient ``log((1 - a) / a)`` stays finite. It is largest at
``a = 1/2`` (``log 2``) and zero at both ends, so its gradient pushes opacities below one half
towards empty and those above towards solid. threestudio weights the same term with
``lambda_opaque``; Neural Volumes (Lombardi et al. 2019, arXiv:1906.07751) pushes opacity to 0 or
1 with a related Beta-distribution prior.
"""
from __future__ import annotations

import torch
from torch import Tensor


def opacity_entropy(alpha: Tensor, eps: float = 1e-3) -> Tensor:
    """Mean binary entropy (in nats) of the opacities ``alpha`` (any shape, values in [0, 1])."""
    a = alpha.clamp(eps, 1.0 - eps)
    return -(a * torch.log(a) + (1.0 - a) * torch.log1p(-a)).mean()
