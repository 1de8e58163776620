"""``PointLinear``: the same layer as ``nn.Linear``, values and gradients, with a faster layout."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from dream3d.scene.point_linear import PointLinear


@pytest.mark.parametrize("features", [(8, 32), (32, 4)])
def test_point_linear_matches_nn_linear_in_values_and_gradients(features):
    torch.manual_seed(0)
    fast, reference = PointLinear(*features), nn.Linear(*features)
    reference.load_state_dict(fast.state_dict())
    assert list(fast.state_dict()) == ["weight", "bias"]
    x = torch.randn(5000, features[0], dtype=torch.float64)
    upstream = torch.randn(5000, features[1], dtype=torch.float64)
    results = []
    for layer in (fast.double(), reference.double()):
        inputs = x.clone().requires_grad_(True)
        out = layer(inputs)
        out.backward(upstream)
        results.append((out, inputs.grad, layer.weight.grad, layer.bias.grad))
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_point_linear_without_bias_and_with_frozen_input():
    torch.manual_seed(0)
    layer = PointLinear(3, 16, bias=False)
    x = torch.randn(100, 3)
    layer(x).square().sum().backward()
    expected = 2 * (x @ layer.weight.t()).t() @ x
    torch.testing.assert_close(layer.weight.grad, expected, rtol=1e-5, atol=1e-5)
