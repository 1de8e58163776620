"""Check the prior's view conditioning: does "a red mug, front view" show the handle where a
front view has it?

The mug and the chair have a front (docs/bundled-world-v2.md): the handle is on the right
in a front view and on the left in a back view; from the front the seat shows before the
backrest, from the back the backrest hides the seat. Each DDIM sample is matched to a bank
of true renders of the same shape and colour, from cameras of every view label, by the
smallest mean squared pixel difference. The sample passes when its nearest render is seen
from the half of the circle its caption asked for: the front half (the camera's azimuth
``a`` with ``cos a > 0``) for "front view", the back half for "back view". That is where
the feature is on the right side: a camera at azimuth ``a`` has the image's right along
``(-sin a, cos a, 0)``, so the handle (at +y) is on the right exactly when ``cos a > 0``,
and the backrest (at -x) is behind the seat exactly then. The mug's front and back
silhouettes are mirror images, and the chair's front and back differ in what is lit, so
both are told apart by the match; on true renders from other cameras it is right in about
19 of 20 cases (tests/test_prior_features.py).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from dream3d.cameras import CameraSampler
from dream3d.prior.catalog import COLOURS, FEATURED, caption, is_held_out
from dream3d.prior.model import TextToImagePrior
from dream3d.prior.sample import ddim_sample
from dream3d.prior.shapes_data import render

CHECKED_VIEWS = ("front", "back")
"""The views in which the feature's side is unambiguous (a side view may face it or hide it)."""


HALF: dict[str, float] = {"front": 1.0, "back": -1.0}
"""The sign of ``cos(azimuth)`` of the cameras a view caption asks for."""


@dataclass
class FeatureCheck:
    """How often one prompt's samples show the feature on the side their caption says."""

    prompt: str
    held_out: bool
    view: str
    samples: int
    view_accuracy: float
    """Fraction of samples whose nearest true render is seen from the caption's half of the circle."""
    azimuths: list[float]
    """The camera azimuth (degrees) of each sample's nearest true render."""
    seed: int = 0
    """The seed of the samples' initial noise."""


def view_bank(shape: str, colour: str, cameras_per_bank: int = 160, seed: int = 0,
              supersample: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """True renders ``[K,3,H,W]`` of ``colour`` ``shape`` from the dataset cameras, and their azimuths ``[K]``."""
    generator = torch.Generator().manual_seed(seed)
    sampler = CameraSampler()
    cameras = sampler.sample(0, generator, batch_size=cameras_per_bank)
    images, _ = render([shape] * len(cameras), [colour] * len(cameras), cameras, supersample=supersample)
    position = cameras.positions()  # [K,3]
    return images, torch.rad2deg(torch.atan2(position[:, 1], position[:, 0]))


def nearest_azimuths(samples: torch.Tensor, bank: torch.Tensor, azimuths: torch.Tensor) -> torch.Tensor:
    """The camera azimuth of the bank image nearest (mean squared difference) to each sample ``[B,3,H,W]``."""
    distance = torch.cdist(samples.flatten(1).double(), bank.flatten(1).double())  # [B,K]
    return azimuths[distance.argmin(1)]


def shows_half(azimuths: torch.Tensor, view: str) -> torch.Tensor:
    """Whether each azimuth lies in the half of the circle that ``view`` ("front" or "back") names."""
    return torch.cos(torch.deg2rad(azimuths)) * HALF[view] > 0


def check_features(prior: TextToImagePrior, samples: int = 8, steps: int = 25, scale: float = 7.5,
                   seed: int = 0, cameras_per_bank: int = 160, supersample: int = 2) -> list[FeatureCheck]:
    """Sample every (colour, featured shape) pair at each checked view and score the view it shows."""
    checks = []
    for shape in FEATURED:
        for colour in COLOURS:
            bank, azimuths = view_bank(shape, colour, cameras_per_bank, seed, supersample)
            for view in CHECKED_VIEWS:
                prompt = caption(colour, shape, view)
                images = ddim_sample(prior, prompt, n=samples, steps=steps, scale=scale, seed=seed)
                nearest = nearest_azimuths(images, bank, azimuths)
                accuracy = float(shows_half(nearest, view).float().mean())
                checks.append(FeatureCheck(prompt, is_held_out(colour, shape), view, samples, accuracy,
                                           [round(a, 1) for a in nearest.tolist()], seed))
    return checks


def summarise_features(checks: list[FeatureCheck]) -> dict:
    """The share of samples showing the asked-for view, per shape and split, with sample sizes."""
    out: dict = {"prompts": [asdict(c) for c in checks]}
    for shape in FEATURED:
        for split, held_out in (("seen", False), ("held_out", True)):
            rows = [c for c in checks if f" {shape}," in c.prompt and c.held_out == held_out]
            n = sum(c.samples for c in rows)
            right = sum(c.view_accuracy * c.samples for c in rows)
            out[f"{shape}_{split}"] = {"view_accuracy": right / n if n else None, "samples": n}
    rows = checks
    n = sum(c.samples for c in rows)
    out["all"] = {"view_accuracy": sum(c.view_accuracy * c.samples for c in rows) / n if n else None, "samples": n}
    return out
