"""Check the prior itself: do its DDIM samples show the prompt's colour and silhouette?

A weak prior is caught here, before any 3D run. Each sample's silhouette (pixels that are
not near-white) is compared by IoU with a bank of ground-truth silhouettes rendered by the
dataset renderer from cameras of the same view label; its colour is the hue of the mean
foreground pixel (``nearest_colour``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from dream3d.cameras import CameraSampler
from dream3d.eval.colour import nearest_colour
from dream3d.eval.specks import has_speck
from dream3d.prior.catalog import SHAPES, all_prompts, caption
from dream3d.prior.model import TextToImagePrior
from dream3d.prior.sample import ddim_sample
from dream3d.prior.shapes_data import render

FOREGROUND_DISTANCE = 0.12
"""A pixel belongs to the object when it is this far (max channel) from white."""


@dataclass
class SampleCheck:
    """Scores of one prompt's samples."""

    prompt: str
    held_out: bool
    shape_accuracy: float
    colour_accuracy: float
    accuracy: float
    """Fraction of samples with both the right silhouette and the right colour."""
    speck_rate: float = 0.0
    """Fraction of samples with an off-colour speck (``dream3d.eval.specks``)."""
    seed: int = 0
    """The seed of the samples' initial noise."""


def silhouettes(images: torch.Tensor) -> torch.Tensor:
    """Foreground masks ``[B,H,W]`` of images ``[B,3,H,W]`` on white."""
    return (1.0 - images).amax(1) > FOREGROUND_DISTANCE


def silhouette_bank(view: str, per_shape: int = 24, seed: int = 0, shapes: tuple[str, ...] = SHAPES) -> dict[str, torch.Tensor]:
    """Ground-truth masks ``[K,H,W]`` per shape, from training cameras with this view label."""
    sampler = CameraSampler()
    generator = torch.Generator().manual_seed(seed)
    cameras = sampler.sample(0, generator, batch_size=per_shape * 20)
    chosen = [i for i, label in enumerate(cameras.view_labels()) if label == view][:per_shape]
    cameras = cameras[chosen]
    bank = {}
    for shape in shapes:
        _, alpha = render([shape] * len(cameras), ["red"] * len(cameras), cameras, supersample=1)
        bank[shape] = alpha[:, 0] > 0.5
    return bank


def classify_shape(mask: torch.Tensor, bank: dict[str, torch.Tensor]) -> str:
    """The shape whose best-matching bank silhouette has the highest IoU with ``mask [H,W]``."""
    def best_iou(masks: torch.Tensor) -> float:
        inter = (masks & mask).flatten(1).sum(1).float()
        union = (masks | mask).flatten(1).sum(1).float().clamp_min(1)
        return float((inter / union).max())

    return max(bank, key=lambda shape: best_iou(bank[shape]))


def check_prior(prior: TextToImagePrior, samples: int = 4, steps: int = 25, scale: float = 7.5, view: str = "side", seed: int = 0) -> list[SampleCheck]:
    """Sample every pair the prior knows the words of, at one view, and score silhouettes and colours
    (a version-1 prior is scored on the six primitives, a version-2 one on all eight shapes)."""
    known = tuple(s for s in SHAPES if prior.vocabulary is None or s in prior.vocabulary)
    bank = silhouette_bank(view, seed=seed, shapes=known)
    checks = []
    for pair in (p for p in all_prompts() if p.shape in known):
        images = ddim_sample(prior, caption(pair.colour, pair.shape, view), n=samples, steps=steps, scale=scale, seed=seed)
        masks = silhouettes(images)
        shape_ok, colour_ok, both, specks = [], [], [], []
        for image, mask in zip(images, masks):
            specks.append(has_speck(image, pair.colour))
            pixels = image.permute(1, 2, 0)[mask]
            colour = nearest_colour(pixels.mean(0).numpy())[0] if len(pixels) else "none"
            shape = classify_shape(mask, bank)
            shape_ok.append(shape == pair.shape)
            colour_ok.append(colour == pair.colour)
            both.append(shape_ok[-1] and colour_ok[-1])
        checks.append(SampleCheck(pair.text, pair.held_out, float(np.mean(shape_ok)), float(np.mean(colour_ok)),
                                  float(np.mean(both)), float(np.mean(specks)), seed))
    return checks


def summarise(checks: list[SampleCheck]) -> dict:
    """Mean accuracies for seen and held-out pairs (``pairs`` distinct prompts, ``rows`` of them
    with every seed's samples), plus every prompt's row."""
    out: dict = {"prompts": [asdict(c) for c in checks]}
    for name, rows in (("seen", [c for c in checks if not c.held_out]), ("held_out", [c for c in checks if c.held_out])):
        out[name] = {key: float(np.mean([getattr(c, key) for c in rows])) if rows else None
                     for key in ("accuracy", "shape_accuracy", "colour_accuracy", "speck_rate")}
        out[name]["pairs"] = len({c.prompt for c in rows})
        out[name]["rows"] = len(rows)
    return out
