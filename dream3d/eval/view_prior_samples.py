"""Check a view-conditioned prior in 2D: its novel views of a true render against the truth.

For every (colour, shape) pair of the bundled world, the reference is a true render from
elevation 15, azimuth 0 (distance 2.5); the prior draws the object from the same elevation at
azimuths 90, 180 and 270, and each sample is scored against the true render from there:
PSNR, SSIM and the IoU of its silhouette with the true render's (pixels away from white, by
the same rule; ``dream3d/eval/novel_views.py``). Seen and held-out pairs are reported apart, with their
sample counts. A perfect prior scores PSNR inf, SSIM 1 and IoU 1.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import Tensor

from dream3d.cameras import Cameras
from dream3d.eval.novel_views import mask_iou, psnr, ssim
from dream3d.eval.prior_samples import silhouettes
from dream3d.prior.catalog import all_prompts
from dream3d.prior.shapes_data import render

REFERENCE_ELEVATION, DISTANCE = 15.0, 2.5
TARGET_AZIMUTHS = (90.0, 180.0, 270.0)

Sampler = Callable[[Tensor, float, float], Tensor]
"""``(reference [1,3,H,W], elevation, azimuth) -> samples [n,3,H,W]`` of the new view."""


@dataclass
class ViewCheck:
    """One pair's scores, averaged over its target views and samples."""

    prompt: str
    held_out: bool
    psnr: float
    ssim: float
    mask_iou: float
    samples: int


def true_view(shape: str, colour: str, azimuth: float, size: int) -> tuple[Tensor, Tensor]:
    """The true render ``[1,3,H,W]`` on white and its coverage ``[1,1,H,W]`` from elevation 15 at ``azimuth``."""
    camera = Cameras.from_spherical(torch.tensor([REFERENCE_ELEVATION]), torch.tensor([azimuth]),
                                    torch.tensor([DISTANCE]), 40.0, size, size)
    return render([shape], [colour], camera)


def check_views(sample: Sampler, size: int = 64, azimuths: tuple[float, ...] | None = None) -> list[ViewCheck]:
    """Score ``sample``'s new views (default azimuths: ``TARGET_AZIMUTHS``) of every pair's reference render."""
    azimuths = TARGET_AZIMUTHS if azimuths is None else azimuths
    checks = []
    for pair in all_prompts():
        reference, _ = true_view(pair.shape, pair.colour, 0.0, size)
        scores = []
        for azimuth in azimuths:
            truth, _ = true_view(pair.shape, pair.colour, azimuth, size)
            true_mask = silhouettes(truth).float()  # the same rule for both silhouettes
            for image in sample(reference, REFERENCE_ELEVATION, azimuth):
                mask = silhouettes(image[None]).float()
                scores.append((psnr(image, truth[0]), ssim(image, truth[0]), mask_iou(mask, true_mask)))
        mean = [sum(s[i] for s in scores) / len(scores) for i in range(3)]
        checks.append(ViewCheck(pair.text, pair.held_out, *mean, samples=len(scores)))
    return checks


def summarise_views(checks: list[ViewCheck]) -> dict:
    """Mean PSNR (finite views only), SSIM and IoU per split, with the pair and sample counts."""
    out: dict = {"prompts": [asdict(c) for c in checks]}
    for split, held_out in (("seen", False), ("held_out", True)):
        rows = [c for c in checks if c.held_out == held_out]
        finite = [c.psnr for c in rows if math.isfinite(c.psnr)]
        out[split] = {"pairs": len(rows), "samples": sum(c.samples for c in rows),
                      "psnr": sum(finite) / len(finite) if finite else math.inf,
                      "ssim": sum(c.ssim for c in rows) / len(rows) if rows else None,
                      "mask_iou": sum(c.mask_iou for c in rows) / len(rows) if rows else None}
    return out


def prior_sampler(prior, samples: int = 2, steps: int = 25, scale: float = 3.0, seed: int = 0) -> Sampler:
    """DDIM samples of a ``ViewConditionedPrior`` (``dream3d.prior.sample.novel_view_sample``)."""
    from dream3d.prior.image_condition import ReferenceView
    from dream3d.prior.sample import novel_view_sample

    def sample(reference: Tensor, elevation: float, azimuth: float) -> Tensor:
        return novel_view_sample(prior, reference, ReferenceView(REFERENCE_ELEVATION, 0.0, DISTANCE), elevation,
                                 azimuth, n=samples, steps=steps, scale=scale, seed=seed)

    return sample
