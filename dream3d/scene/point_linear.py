"""A linear layer for very many points through few features (the NeRF MLP's first layer).

``nn.Linear`` computes ``x @ W^T`` and, in backward, ``dW = dy^T @ x``. On a CPU, with
``x [M,k]`` for M ~ 10^5 points and k ~ 8 features, both products read a narrow operand
transposed, and run several times slower than the same products written the other way
round: ``x @ contiguous(W^T)`` and ``dW = (x^T @ dy)^T`` (measured in
``benchmarks/profile_step.py``'s report, ``benchmarks/dreamfusion-speed.md``). The values are
the same up to float rounding; the parameters and their names are ``nn.Linear``'s, so
checkpoints do not change.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class _NarrowInputLinear(torch.autograd.Function):
    """``y = x W^T + b`` with the products laid out for a narrow ``x`` (``k_in < k_out``)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        out = x @ weight.t().contiguous()
        return out + bias if bias is not None else out

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        grad_x = grad @ weight if ctx.needs_input_grad[0] else None
        grad_weight = (x.t() @ grad).t() if ctx.needs_input_grad[1] else None
        grad_bias = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias


class PointLinear(nn.Linear):
    """``nn.Linear`` that, for 2D inputs with fewer input than output features, uses the
    faster layout above; otherwise it is ``nn.Linear`` itself."""

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2 and x.device.type == "cpu" and self.in_features < self.out_features:
            return _NarrowInputLinear.apply(x, self.weight, self.bias)
        return super().forward(x)
