"""Check a multi-view prior's own samples: one object in 4 views, the feature on one side.

For every (colour, shape) pair the prior draws ``samples`` groups of 4 views (DDIM with
classifier-free guidance on the text, the cameras kept, as multi-view SDS uses the prior) at
MVDream's layout: azimuths a + k·90°, elevation 15°, distance 2.5, base azimuths spread over
a quarter circle so that the views cover the whole circle. Each view is scored as the text
prior's samples are (``prior_samples``): silhouette and colour against true renders. For the
mug and the chair, each view is also matched to true renders of the same object from every
side (``prior_features.nearest_azimuths``):

- ``feature_side``: of the views that look at the object's front or back half (``|cos a| >=
  0.5``), the share whose nearest render lies in the same half, i.e. the handle or backrest is
  on the side the camera implies;
- ``one_sided``: the share of groups in which every such view is right. A group that paints
  the feature on both sides (Janus) or turns it with the camera fails;
- ``azimuth_within_45``: the share of views whose nearest render's azimuth is within 45° of
  the view's own.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from dream3d.cameras import Cameras, view_layout
from dream3d.eval.colour import nearest_colour
from dream3d.eval.prior_features import nearest_azimuths, view_bank
from dream3d.eval.prior_samples import classify_shape, silhouette_bank, silhouettes
from dream3d.interfaces import Conditioning
from dream3d.prior.catalog import FEATURED, SHAPES, all_prompts, parse_prompt
from dream3d.prior.multiview import MultiViewPrior
from dream3d.prior.multiview_camera import camera_features
from dream3d.prior.sample import ddim_sample_conditioned

ELEVATION, DISTANCE, FOVY = 15.0, 2.5, 40.0
FRONT_OR_BACK = 0.5
"""Views with ``|cos azimuth|`` at least this look clearly at the front or the back half."""


@dataclass
class MultiViewCheck:
    """Scores of one prompt's view groups."""

    prompt: str
    held_out: bool
    groups: int
    accuracy: float
    """Share of views with the right silhouette and colour."""
    feature_side: float | None = None
    one_sided: float | None = None
    azimuth_within_45: float | None = None


def group_cameras(groups: int, views: int, size: int) -> Cameras:
    """``groups`` view groups ``[groups·views]`` (object-major), base azimuths spread over 360°/views."""
    base = -180.0 + (360.0 / views) * (torch.arange(groups, dtype=torch.float32) + 0.5) / groups
    elevation, azimuth, distance = view_layout(torch.full((groups,), ELEVATION), base, torch.full((groups,), DISTANCE), views)
    return Cameras.from_spherical(elevation, azimuth, distance, FOVY, size, size)


@torch.no_grad()
def sample_groups(prior: MultiViewPrior, prompt: str, cameras: Cameras, steps: int, scale: float, seed: int) -> torch.Tensor:
    """DDIM views ``[N,3,H,W]`` in [0,1] of ``prompt`` at ``cameras`` (whole groups)."""
    prior.check_prompt(prompt)
    n = len(cameras)
    text = prior.encode_text(["", prompt])  # [2,L,D]
    labels = camera_features(cameras.c2w, prior.camera_yaw_degrees).to(prior.device)
    cond = Conditioning(text[1:].expand(n, -1, -1)).with_class_labels(labels)
    uncond = Conditioning(text[:1].expand(n, -1, -1)).with_class_labels(labels)
    return ddim_sample_conditioned(prior, cond, uncond, steps, scale, seed)


def circular_gap(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Absolute angular difference in degrees, in [0, 180]."""
    return ((a - b + 180.0) % 360.0 - 180.0).abs()


def shape_bank(seed: int = 0, per_view: int = 12) -> dict[str, torch.Tensor]:
    """True silhouettes ``[K,H,W]`` of every shape from front, side and back cameras."""
    banks = [silhouette_bank(view, per_shape=per_view, seed=seed) for view in ("front", "side", "back")]
    return {shape: torch.cat([bank[shape] for bank in banks]) for shape in SHAPES}


def score_groups(images: torch.Tensor, azimuths: torch.Tensor, prompt: str, views: int,
                 shapes: dict[str, torch.Tensor], seed: int = 0) -> MultiViewCheck:
    """Score view groups ``images [G·V,3,H,W]`` drawn at camera ``azimuths [G·V]`` for ``prompt``."""
    pair = parse_prompt(prompt)
    right = []
    for image, mask in zip(images, silhouettes(images)):
        pixels = image.permute(1, 2, 0)[mask]
        colour = nearest_colour(pixels.mean(0).numpy())[0] if len(pixels) else "none"
        right.append(colour == pair.colour and classify_shape(mask, shapes) == pair.shape)
    groups = len(images) // views
    check = MultiViewCheck(prompt, pair.held_out, groups, float(np.mean(right)))
    if pair.shape in FEATURED:
        bank, bank_azimuths = view_bank(pair.shape, pair.colour, seed=seed)
        nearest = nearest_azimuths(images, bank, bank_azimuths)
        cos_asked, cos_seen = torch.cos(torch.deg2rad(azimuths)), torch.cos(torch.deg2rad(nearest))
        judged = cos_asked.abs() >= FRONT_OR_BACK
        side_right = (cos_asked * cos_seen > 0) | ~judged  # [N]
        check.feature_side = float(side_right[judged].float().mean())
        check.one_sided = float(side_right.view(groups, views).all(1).float().mean())
        check.azimuth_within_45 = float((circular_gap(nearest, azimuths) <= 45.0).float().mean())
    return check


def check_multiview_prior(prior: MultiViewPrior, samples: int = 4, steps: int = 25, scale: float = 7.5,
                          seed: int = 0) -> list[MultiViewCheck]:
    """Sample every pair's view groups and score them (see the module's docstring)."""
    from tqdm.auto import tqdm

    cameras = group_cameras(samples, prior.num_views, prior.image_size)
    shapes = shape_bank(seed)
    checks = []
    for pair in tqdm(all_prompts(), desc="multi-view samples"):
        images = sample_groups(prior, pair.text, cameras, steps, scale, seed)
        checks.append(score_groups(images, cameras.azimuth, pair.text, prior.num_views, shapes, seed))
    return checks


def summarise_multiview(checks: list[MultiViewCheck]) -> dict:
    """Means per split (and for the featured shapes), with the number of prompts and groups."""
    out: dict = {"prompts": [asdict(c) for c in checks]}
    for split, held_out in (("seen", False), ("held_out", True)):
        rows = [c for c in checks if c.held_out == held_out]
        featured = [c for c in rows if c.feature_side is not None]
        out[split] = {"pairs": len(rows), "groups": sum(c.groups for c in rows),
                      "accuracy": float(np.mean([c.accuracy for c in rows])) if rows else None,
                      "featured_pairs": len(featured), "featured_groups": sum(c.groups for c in featured)}
        for key in ("feature_side", "one_sided", "azimuth_within_45"):
            out[split][key] = float(np.mean([getattr(c, key) for c in featured])) if featured else None
    return out
