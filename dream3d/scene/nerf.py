"""A NeRF field: grid encoding + small MLP -> density and albedo (DreamFusion's scene).

The density starts as a blob at the centre (Magic3D/threestudio-style initialisation):
``sigma(x) = act(raw(x) + blob_density * (1 - |x| / blob_radius))``, which gives score
distillation an object to shape instead of empty space.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dream3d.scene.encodings import EncodingConfig, build_encoding
from dream3d.scene.initial_shape import InitialShapeConfig, blob_profile
from dream3d.scene.point_linear import PointLinear


@dataclass
class NeRFConfig:
    """The NeRF field."""

    encoding: EncodingConfig = field(default_factory=EncodingConfig)
    """Positional encoding of points."""
    hidden_dim: int = 64
    """Width of the MLP after the encoding."""
    n_hidden_layers: int = 1
    """Hidden layers of the MLP."""
    bounds_radius: float = 1.0
    """The scene lives inside this sphere (and its bounding cube)."""
    density_activation: Literal["softplus", "exp"] = "softplus"
    """``softplus`` or ``exp`` (truncated-exponential gradient)."""
    density_bias: Literal["blob", "none"] = "blob"
    """Initial density shape: ``blob`` (centre Gaussian-like bump) or ``none``."""
    blob_density: float = 10.0
    """Density added at the centre by the blob."""
    blob_radius: float = 0.5
    """Radius over which the blob density falls to zero."""
    initial_shape: InitialShapeConfig = field(default_factory=InitialShapeConfig)
    """The blob profile fitted into the field itself before training: a start that nothing
    holds the field to (use with ``density_bias: none``)."""
    normal_eps: float = 0.01
    """Finite-difference step (world units) for normals from the density gradient."""


class TruncExp(torch.autograd.Function):
    """``exp`` whose backward clamps the input, for stable density gradients (Instant-NGP)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.exp(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * torch.exp(x.clamp(max=15.0))


class NeRFField(nn.Module):
    """Density and albedo at world points; the scene interface the exporter needs."""

    def __init__(self, config: NeRFConfig):
        super().__init__()
        self.config = config
        self.encoding = build_encoding(config.encoding)
        layers: list[nn.Module] = []
        width = self.encoding.output_dim
        for _ in range(config.n_hidden_layers):
            layers += [PointLinear(width, config.hidden_dim), nn.ReLU(inplace=True)]
            width = config.hidden_dim
        layers.append(PointLinear(width, 4))
        self.mlp = nn.Sequential(*layers)
        if config.density_activation not in ("softplus", "exp"):
            raise ValueError(f"density_activation must be 'softplus' or 'exp', got {config.density_activation!r}")

    @property
    def bounds_radius(self) -> float:
        return self.config.bounds_radius

    def _normalise(self, points: Tensor) -> Tensor:
        return (points / self.config.bounds_radius + 1.0) * 0.5

    def density_bias(self, points: Tensor) -> Tensor:
        """The blob term ``[N]`` added to the raw density."""
        if self.config.density_bias == "none":
            return torch.zeros_like(points[:, 0])
        return blob_profile(points, self.config.blob_density, self.config.blob_radius)

    def activate_density(self, raw: Tensor) -> Tensor:
        if self.config.density_activation == "exp":
            return TruncExp.apply(raw)
        return F.softplus(raw)

    def raw_density(self, points: Tensor) -> Tensor:
        """The learned pre-activation density ``[N]`` (without the blob) at points ``[N,3]``."""
        return self.mlp(self.encoding(self._normalise(points)))[:, 0]

    def forward(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """``(density [N], albedo [N,3])`` at world points ``[N,3]``."""
        out = self.mlp(self.encoding(self._normalise(points)))
        sigma = self.activate_density(out[:, 0] + self.density_bias(points))
        outside = points.abs().amax(-1) > self.config.bounds_radius
        sigma = torch.where(outside, torch.zeros_like(sigma), sigma)
        return sigma, torch.sigmoid(out[:, 1:])

    def density(self, points: Tensor) -> Tensor:
        """Density ``[N]`` at world points ``[N,3]``."""
        return self(points)[0]

    def albedo(self, points: Tensor) -> Tensor:
        """Albedo ``[N,3]`` in [0,1] at world points ``[N,3]``."""
        return self(points)[1]

    def normals(self, points: Tensor, sigma: Tensor) -> Tensor:
        """Unit normals ``[N,3]`` = -grad(sigma)/|grad(sigma)| by forward differences."""
        eps = self.config.normal_eps
        offsets = torch.eye(3, dtype=points.dtype, device=points.device) * eps  # [3,3]
        shifted = (points[:, None, :] + offsets[None]).reshape(-1, 3)
        sigma_shifted = self.density(shifted).view(-1, 3)
        gradient = (sigma_shifted - sigma[:, None]) / eps
        return -F.normalize(gradient, dim=-1, eps=1e-8)
