"""Novel-view accuracy of image-to-3D against true renders: PSNR, SSIM and mask IoU.

Zero123 (Liu et al. 2023, table 1) reports PSNR and SSIM of novel views on real data;
here the same measurement has exact ground truth: the bundled world's renderer draws the
true object from the evaluation cameras.

- PSNR: ``10 log10(1 / MSE)`` for images in [0,1], over all pixels and channels.
- SSIM (Wang et al. 2004, "Image quality assessment: from error visibility to structural
  similarity"): the mean over pixels of
  ``(2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))`` with
  local statistics under an 11x11 Gaussian window (sigma 1.5), ``C1 = (0.01)^2``,
  ``C2 = (0.03)^2``, per channel, averaged; the window is applied where it fits (no
  padding), as scikit-image does with ``gaussian_weights=True``.
- Mask IoU: ``|A and B| / |A or B|`` of the silhouettes (alpha > 0.5).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

SSIM_WINDOW, SSIM_SIGMA = 11, 1.5
SSIM_C1, SSIM_C2 = 0.01**2, 0.03**2


def psnr(image: Tensor, reference: Tensor) -> float:
    """PSNR in dB of images ``[...,3,H,W]`` in [0,1]; ``inf`` for identical images."""
    mse = float(torch.mean((image.double() - reference.double()) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)


def _gaussian_window(device: torch.device) -> Tensor:
    x = torch.arange(SSIM_WINDOW, dtype=torch.float64, device=device) - SSIM_WINDOW // 2
    g = torch.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]  # [1,1,k,k]


def ssim(image: Tensor, reference: Tensor) -> float:
    """Mean SSIM of images ``[3,H,W]`` (or ``[B,3,H,W]``) in [0,1]."""
    x = image.double().reshape(-1, 1, *image.shape[-2:])
    y = reference.double().reshape(-1, 1, *reference.shape[-2:])
    window = _gaussian_window(x.device)

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(t, window)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    # scikit-image's sample (not population) covariance under the window
    n = SSIM_WINDOW**2
    correction = n / (n - 1)
    var_x, var_y, cov = var_x * correction, var_y * correction, cov * correction
    value = ((2 * mu_x * mu_y + SSIM_C1) * (2 * cov + SSIM_C2)) / ((mu_x**2 + mu_y**2 + SSIM_C1) * (var_x + var_y + SSIM_C2))
    return float(value.mean())


def mask_iou(alpha: Tensor, reference_alpha: Tensor) -> float:
    """IoU of the silhouettes ``alpha > 0.5``; 1 when both are empty."""
    a, b = alpha > 0.5, reference_alpha > 0.5
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union


@dataclass
class NovelViewScores:
    """Mean scores over the evaluation views, and how many views."""

    psnr: float
    ssim: float
    mask_iou: float
    views: int


def score_views(rgb: Tensor, alpha: Tensor, true_rgb: Tensor, true_alpha: Tensor) -> NovelViewScores:
    """Scores of renders ``rgb [V,3,H,W]``, ``alpha [V,1,H,W]`` against the true ones, view by view."""
    views = rgb.shape[0]
    per_view = [(psnr(rgb[v], true_rgb[v]), ssim(rgb[v], true_rgb[v]), mask_iou(alpha[v], true_alpha[v]))
                for v in range(views)]
    return NovelViewScores(*(sum(s[i] for s in per_view) / views for i in range(3)), views=views)
