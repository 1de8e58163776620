"""The torch hash grid and dense grid interpolate trilinearly between stored values."""
from __future__ import annotations

import torch

from dream3d.scene.encodings import CORNERS, DenseGrid, EncodingConfig, HashGrid, build_encoding


def trilinear_reference(values_at_corner, frac):
    """Independent trilinear interpolation: sum over corners of prod of 1-D hat weights."""
    total = 0.0
    for corner in range(8):
        bits = CORNERS[corner].tolist()
        weight = 1.0
        for axis in range(3):
            weight *= frac[axis] if bits[axis] else 1.0 - frac[axis]
        total = total + weight * values_at_corner(bits)
    return total


def test_hash_grid_interpolates_trilinearly():
    torch.manual_seed(0)
    grid = HashGrid(EncodingConfig(n_levels=3, n_features_per_level=2, log2_hashmap_size=10, base_resolution=4, max_resolution=32))
    with torch.no_grad():
        grid.table.normal_()
    points = torch.rand(20, 3)
    features = grid(points).view(20, 3, 2)
    for level in range(3):
        res = int(grid.resolutions[level])
        for i, x in enumerate(points):
            scaled = x * res
            base = scaled.floor().long()
            frac = (scaled - base).tolist()

            def value(bits):
                corner = (base + torch.tensor(bits)).view(1, 1, 1, 3).expand(1, 3, 1, 3)
                index = grid.corner_indices(corner)[0, level, 0]
                return grid.table[level, index]

            torch.testing.assert_close(features[i, level], trilinear_reference(value, frac), atol=1e-5, rtol=1e-5)


def test_hash_grid_coarse_levels_are_collision_free():
    grid = HashGrid(EncodingConfig(n_levels=2, base_resolution=4, max_resolution=8, log2_hashmap_size=12))
    r = int(grid.resolutions[0]) + 1
    cells = torch.stack(torch.meshgrid(*[torch.arange(r)] * 3, indexing="ij"), -1).view(1, -1, 1, 3)
    index = grid.corner_indices(cells.expand(1, -1, 1, 3).reshape(-1, 1, 1, 3).expand(-1, 2, 1, 3))[:, 0, 0]
    assert index.unique().numel() == r**3


def test_dense_grid_interpolates_trilinearly():
    torch.manual_seed(0)
    grid = DenseGrid(EncodingConfig(type="densegrid", dense_resolution=5, dense_features=3))
    with torch.no_grad():
        grid.grid.normal_()
    points = torch.rand(10, 3)
    features = grid(points)
    for i, x in enumerate(points):
        scaled = x * 4  # align_corners=True: voxel centres at k / (R-1)
        base = scaled.floor().long().clamp(max=3)
        frac = (scaled - base).tolist()

        def value(bits):
            ix, iy, iz = (base + torch.tensor(bits)).tolist()
            return grid.grid[0, :, iz, iy, ix]  # grid_sample: x->W, y->H, z->D

        torch.testing.assert_close(features[i], trilinear_reference(value, frac), atol=1e-5, rtol=1e-5)


def test_auto_backend_falls_back_to_torch_without_cuda():
    assert isinstance(build_encoding(EncodingConfig(type="hashgrid", backend="auto")), HashGrid)


def test_dense_grid_total_variation_is_the_mean_squared_neighbour_difference():
    grid = DenseGrid(EncodingConfig(type="densegrid", dense_resolution=2, dense_features=1))
    with torch.no_grad():
        grid.grid.zero_()
        grid.grid[0, 0, 1, 1, 1] = 2.0  # one corner cell of the 2x2x2 grid
    # along each axis 4 neighbour pairs, one of which differs by 2: mean (2^2)/4 = 1 per axis
    torch.testing.assert_close(grid.total_variation(), torch.tensor(3.0))
    with torch.no_grad():
        grid.grid.fill_(0.7)
    assert grid.total_variation().item() == 0.0


def test_hash_grid_gradient_is_each_entrys_summed_trilinear_weight():
    """d(sum of features)/d(table entry) is the total trilinear weight that entry received."""
    torch.manual_seed(1)
    grid = HashGrid(EncodingConfig(n_levels=2, n_features_per_level=2, log2_hashmap_size=8, base_resolution=4, max_resolution=16))
    points = torch.rand(50, 3)
    grid(points).sum().backward()
    expected = torch.zeros(2, grid.table.shape[1])
    for level in range(2):
        scaled = points * int(grid.resolutions[level])
        base = scaled.floor().long()
        frac = scaled - base
        for corner in range(8):
            bits = CORNERS[corner]
            weight = torch.where(bits.bool(), frac, 1.0 - frac).prod(-1)  # [50]
            index = grid.corner_indices((base + bits).view(50, 1, 1, 3).expand(50, 2, 1, 3))[:, level, 0]
            expected[level].index_add_(0, index, weight)
    torch.testing.assert_close(grid.table.grad, expected[..., None].expand_as(grid.table), atol=1e-5, rtol=1e-5)
