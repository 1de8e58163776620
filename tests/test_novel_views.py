"""Novel-view metrics: perfect on a perfect reconstruction, and equal to references elsewhere."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dream3d.cameras import orbit_cameras
from dream3d.eval.novel_views import mask_iou, psnr, score_views, ssim
from dream3d.prior.shapes_data import render


def test_a_perfect_reconstruction_scores_perfectly():
    cameras = orbit_cameras(8, elevation=20.0, distance=2.5, fovy=40.0, height=48, width=48)
    rgb, alpha = render(["mug"] * 8, ["orange"] * 8, cameras, supersample=1)
    scores = score_views(rgb, alpha, rgb.clone(), alpha.clone())
    assert scores.psnr == math.inf and scores.ssim == pytest.approx(1.0) and scores.mask_iou == 1.0 and scores.views == 8


def test_psnr_and_iou_formulas():
    a, b = torch.zeros(3, 8, 8), torch.full((3, 8, 8), 0.1)
    assert psnr(a, b) == pytest.approx(20.0)  # MSE 0.01
    m1, m2 = torch.zeros(1, 4, 4), torch.zeros(1, 4, 4)
    m1[:, :2], m2[:, 1:3] = 1.0, 1.0  # rows 0-1 vs rows 1-2: overlap 4, union 12
    assert mask_iou(m1, m2) == pytest.approx(4 / 12)


def test_ssim_matches_scikit_image():
    from skimage.metrics import structural_similarity

    generator = torch.Generator().manual_seed(0)
    x = torch.rand(3, 40, 40, generator=generator)
    y = (x + 0.1 * torch.randn(3, 40, 40, generator=generator)).clamp(0, 1)
    reference = structural_similarity(x.permute(1, 2, 0).numpy().astype(np.float64), y.permute(1, 2, 0).numpy().astype(np.float64),
                                      channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=True,
                                      data_range=1.0)
    # scikit-image averages over the region the window fits in, as here: the same number
    assert ssim(x, y) == pytest.approx(reference, abs=1e-6)
