"""Positional encodings of points in [0,1]^3 for the NeRF field.

- ``HashGrid``: multiresolution hash encoding (Instant-NGP, Mueller et al. 2022), in torch,
  or through tinycudann when it is installed and CUDA is present.
- ``DenseGrid``: a trilinearly interpolated feature volume (``F.grid_sample``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dream3d.optional import announce_backend, require, tinycudann

# 8 corners of a unit cell, [8,3] in {0,1}
CORNERS = torch.tensor([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], dtype=torch.long)
HASH_PRIMES = (1, 2654435761, 805459861)


@dataclass
class EncodingConfig:
    """Multiresolution grid encoding settings."""

    type: Literal["hashgrid", "densegrid"] = "hashgrid"
    """``hashgrid`` (Instant-NGP) or ``densegrid``."""
    backend: Literal["auto", "torch", "tcnn"] = "auto"
    """Hash grid backend: ``auto`` (tinycudann if available), ``torch`` or ``tcnn``."""
    n_levels: int = 8
    """Number of resolution levels (hash grid)."""
    n_features_per_level: int = 2
    """Features stored per level."""
    log2_hashmap_size: int = 15
    """log2 of the hash table size per level."""
    base_resolution: int = 16
    """Coarsest grid resolution."""
    max_resolution: int = 256
    """Finest grid resolution (hash grid)."""
    dense_resolution: int = 64
    """Resolution of the dense grid."""
    dense_features: int = 16
    """Features stored per dense voxel."""


class HashGrid(nn.Module):
    """Multiresolution hash encoding with trilinear interpolation, in pure torch."""

    def __init__(self, config: EncodingConfig):
        super().__init__()
        self.n_levels = config.n_levels
        self.n_features = config.n_features_per_level
        growth = math.exp((math.log(config.max_resolution) - math.log(config.base_resolution)) / max(config.n_levels - 1, 1))
        resolutions = [int(math.floor(config.base_resolution * growth**level)) for level in range(config.n_levels)]
        self.register_buffer("resolutions", torch.tensor(resolutions, dtype=torch.long), persistent=False)
        table_size = 2**config.log2_hashmap_size
        sizes = [min((r + 1) ** 3, table_size) for r in resolutions]
        self.table_size = max(sizes)
        self.register_buffer("level_sizes", torch.tensor(sizes, dtype=torch.long), persistent=False)
        self.table = nn.Parameter(torch.empty(config.n_levels, self.table_size, self.n_features).uniform_(-1e-4, 1e-4))

    @property
    def output_dim(self) -> int:
        return self.n_levels * self.n_features

    def corner_indices(self, corners: Tensor) -> Tensor:
        """Table index of integer corners ``[N,L,8,3]`` -> ``[N,L,8]``.

        Levels whose grid fits in the table are indexed densely; the others use the
        spatial hash ``xor_i(x_i * pi_i) mod T`` of Instant-NGP (eq. 4).
        """
        res = (self.resolutions + 1).view(1, -1, 1)
        dense = corners[..., 0] + corners[..., 1] * res + corners[..., 2] * res * res
        hashed = corners[..., 0] * HASH_PRIMES[0]
        hashed = hashed ^ (corners[..., 1] * HASH_PRIMES[1])
        hashed = hashed ^ (corners[..., 2] * HASH_PRIMES[2])
        size = self.level_sizes.view(1, -1, 1)
        use_dense = ((self.resolutions + 1) ** 3 <= self.level_sizes).view(1, -1, 1)
        return torch.where(use_dense, dense, hashed) % size

    def forward(self, x: Tensor) -> Tensor:
        """Features ``[N, L*F]`` of points ``[N,3]`` in [0,1]."""
        x = x.clamp(0.0, 1.0)
        scaled = x[:, None, :] * self.resolutions.view(1, -1, 1).to(x.dtype)  # [N,L,3]
        base = scaled.floor().long().clamp_max(self.resolutions.view(1, -1, 1) - 1)
        frac = scaled - base.to(x.dtype)  # [N,L,3]
        corners = base[:, :, None, :] + CORNERS.to(x.device)[None, None]  # [N,L,8,3]
        index = self.corner_indices(corners)  # [N,L,8]
        cw = CORNERS.to(x.device, x.dtype)[None, None]  # [1,1,8,3]
        weights = (cw * frac[:, :, None, :] + (1 - cw) * (1 - frac[:, :, None, :])).prod(-1)  # [N,L,8]
        level_offset = (torch.arange(self.n_levels, device=x.device) * self.table_size).view(1, -1, 1)
        flat = self.table.view(-1, self.n_features)
        # index_select: its backward (index_add) is several times faster on a CPU than that of flat[...]
        features = flat.index_select(0, (index + level_offset).reshape(-1)).view(*index.shape, self.n_features)
        return (weights[..., None] * features).sum(2).reshape(x.shape[0], -1)


class TcnnHashGrid(nn.Module):
    """The same encoding through tinycudann's fused CUDA kernels."""

    def __init__(self, config: EncodingConfig):
        super().__init__()
        tcnn = require(tinycudann(), "encoding.backend=tcnn", "tinycudann (pip install git+https://github.com/NVlabs/tiny-cuda-nn#subdirectory=bindings/torch)")
        growth = math.exp((math.log(config.max_resolution) - math.log(config.base_resolution)) / max(config.n_levels - 1, 1))
        self.encoding = tcnn.Encoding(3, {
            "otype": "HashGrid", "n_levels": config.n_levels,
            "n_features_per_level": config.n_features_per_level,
            "log2_hashmap_size": config.log2_hashmap_size,
            "base_resolution": config.base_resolution, "per_level_scale": growth,
        })
        self.output_dim = config.n_levels * config.n_features_per_level

    def forward(self, x: Tensor) -> Tensor:
        return self.encoding(x.clamp(0.0, 1.0)).float()


class DenseGrid(nn.Module):
    """A learned feature volume sampled trilinearly with ``F.grid_sample``."""

    def __init__(self, config: EncodingConfig):
        super().__init__()
        r = config.dense_resolution
        self.grid = nn.Parameter(torch.empty(1, config.dense_features, r, r, r).uniform_(-1e-4, 1e-4))
        self.output_dim = config.dense_features

    def forward(self, x: Tensor) -> Tensor:
        """Features ``[N,C]`` of points ``[N,3]`` in [0,1] (x indexes W, y H, z D)."""
        coords = (x.clamp(0.0, 1.0) * 2.0 - 1.0).view(1, -1, 1, 1, 3)
        sampled = F.grid_sample(self.grid, coords, mode="bilinear", align_corners=True)  # [1,C,N,1,1]
        return sampled.view(self.grid.shape[1], -1).t()

    def total_variation(self) -> Tensor:
        """Mean squared difference between neighbouring grid cells along x, y and z (the TV
        prior of Plenoxels, Fridovich-Keil et al. 2022, eq. 4, squared form), summed over axes."""
        g = self.grid
        return sum(torch.diff(g, dim=d).pow(2).mean() for d in (2, 3, 4))


def build_encoding(config: EncodingConfig) -> nn.Module:
    """The encoding named by the config; ``auto`` picks tinycudann only when usable."""
    if config.type == "densegrid":
        announce_backend("encoding", "dense grid (torch)")
        return DenseGrid(config)
    if config.type != "hashgrid":
        raise ValueError(f"encoding.type must be 'hashgrid' or 'densegrid', got {config.type!r}")
    if config.backend == "tcnn" or (config.backend == "auto" and tinycudann() is not None):
        announce_backend("encoding", "tinycudann hash grid")
        return TcnnHashGrid(config)
    if config.backend not in ("auto", "torch"):
        raise ValueError(f"encoding.backend must be 'auto', 'torch' or 'tcnn', got {config.backend!r}")
    announce_backend("encoding", "torch hash grid")
    return HashGrid(config)
