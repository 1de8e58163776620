"""The text prior's view-word phases, which teach it the view words after its first UNet phase.

After the first phase the bundled prior drew the same image for "a red mug, front view" and
"a red mug, back view" (``benchmarks/prior-samples-2d.md``): its noise-prediction error on true
front views was the same, to within 1%, whichever view word the caption had. Two reasons:

- only the mug and the chair look different from the front and from the back, and then only
  in which side the handle or the backrest is on: a few pixels of a 64x64 image, in 1 of 8
  training images;
- that side is decided at the high-noise steps of sampling, where the epsilon objective barely
  sees the clean image. Its error there is the clean-image error times SNR(t) (Ho et al. 2020,
  eq. 4), about 0.005 at t = 999 with Stable Diffusion's schedule.

So this phase goes on from the first phase's weights with, in every batch:

- a share of images of mugs and chairs seen from the front or the back, each captioned with its
  view word (the rest are drawn as in the first phase, so that no shape or colour is forgotten);
- the high-noise steps weighted as clean-image errors, up to a cap
  (``training_state.high_noise_weights``), as the multi-view prior does for its cameras.

The shipped prior runs it twice (``SHIPPED_VIEW_PHASES``). The first time, with the featured
draws split between mugs and chairs as the data holds them, the text encoder pulls "front view"
and "back view" apart and the mugs follow their caption, but the chairs do not: a chair's front
and back differ only in whether the seat or the backrest's rear is lit. The second time, from
there, three quarters of the featured draws are chairs, and the chairs follow too
(``benchmarks/prior-samples-2d.md``).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from dream3d.prior.catalog import FEATURED
from dream3d.prior.shapes_data import CaptionConfig, ShapesDataset

TAUGHT_VIEWS = ("front", "back")
"""The views whose images show the feature on a known side (a side view may face it or hide it)."""


@dataclass
class ViewPhaseConfig:
    """One view-word phase after the first UNet phase (0 steps: skipped).

    From the first phase's weights, 1500 steps put the feature on the caption's side in 82% of
    192 samples (mugs 100% of 96, chairs 64% of 96), 3000 steps in 62%, and 1500 steps at a
    learning rate of 1e-4 in 54%; a second phase of 1500 steps with chairs in 3/4 of the featured
    draws then put it there in 99% (``benchmarks/prior-samples-2d.md``)."""

    steps: int = 1500
    lr: float = 3e-4
    warmup_steps: int = 50
    featured_share: float = 0.5
    """Share of each batch drawn from front and back views of mugs and chairs."""
    chair_share: float | None = None
    """Share of those featured draws that show a chair (None: as many as the dataset holds,
    about half). As the first phase, 0.75 left both shapes at chance (``benchmarks/prior-samples-2d.md``):
    the mugs, whose front and back are mirror images, are what teaches the view words. As the
    second phase, after the words are apart, it is what teaches the chairs to follow them."""
    text_lr_scale: float = 1.0
    """The text encoder's learning rate as a multiple of ``lr``. After the first phase the
    encoder maps "front view" and "back view" to embeddings 1% apart (mean absolute difference
    0.0075 against a mean magnitude of 0.72; "mug" and "cube" are 0.22 apart); after 1500 steps
    of this phase they are 0.082 apart and the mugs follow their caption. At 10x they ended
    0.0012 apart and no sample followed its caption."""
    high_noise_cap: float = 20.0
    """Largest weight of a high-noise step's error (``training_state.high_noise_weights``)."""
    seed_offset: int = 1
    """The phase draws from generators seeded with the run's seed plus this, so that it gives the
    same weights whether the first phase was just trained or loaded from its checkpoint."""

    def __post_init__(self):
        # checked when the command is parsed, not after the dataset's minutes of rendering
        if self.steps < 0:
            raise ValueError(f"steps must be at least 0; got {self.steps}.")
        if not 0.0 <= self.featured_share <= 1.0:
            raise ValueError(f"featured_share must be in [0, 1]; got {self.featured_share}.")
        if self.chair_share is not None and not 0.0 <= self.chair_share <= 1.0:
            raise ValueError(f"chair_share must be in [0, 1]; got {self.chair_share}.")
        if self.text_lr_scale < 0.0:
            raise ValueError(f"text_lr_scale must be at least 0; got {self.text_lr_scale}.")


SHIPPED_VIEW_PHASES: tuple[ViewPhaseConfig, ...] = (
    ViewPhaseConfig(steps=1500),
    ViewPhaseConfig(steps=1500, chair_share=0.75),
)
"""The view phases of the shipped ``dream3d-shapes-v2`` prior, in order. Both draw from the same
seed (``seed_offset`` 1); the second's chair weights make its draws differ from the first's."""


def featured_views(data: ShapesDataset) -> Tensor:
    """Indices ``[K]`` of the images of a shape with a front seen from a ``TAUGHT_VIEWS`` view."""
    chosen = [i for i, (shape, view) in enumerate(zip(data.shapes, data.views))
              if shape in FEATURED and view in TAUGHT_VIEWS]
    if not chosen:
        raise ValueError("The dataset has no front or back view of a mug or a chair to teach the view words on; "
                         "render more views per pair.")
    return torch.tensor(chosen)


def featured_weights(data: ShapesDataset, featured: Tensor, chair_share: float | None) -> Tensor | None:
    """Draw weights ``[K]`` over ``featured`` that give the chairs ``chair_share`` of the draws
    (each chair view alike, each mug view alike); None for uniform draws."""
    if chair_share is None:
        return None
    is_chair = torch.tensor([data.shapes[i] == "chair" for i in featured.tolist()])
    chairs, others = int(is_chair.sum()), int((~is_chair).sum())
    if (chair_share > 0 and chairs == 0) or (chair_share < 1 and others == 0):
        raise ValueError(f"A chair share of {chair_share} needs front or back views of both chairs and mugs.")
    return torch.where(is_chair, chair_share / max(chairs, 1), (1.0 - chair_share) / max(others, 1)).double()


def draw_batch(size: int, total: int, featured: Tensor | None, share: float,
               generator: torch.Generator, weights: Tensor | None = None) -> tuple[Tensor, int]:
    """``(indices [size], n)``: the first ``n = round(share * size)`` indices drawn from
    ``featured`` (uniformly, or by ``weights``), the rest uniformly from ``range(total)``;
    without ``featured``, all uniform."""
    n = 0 if featured is None else round(share * size)
    if not n:
        picked = torch.empty(0, dtype=torch.long)
    elif weights is None:
        picked = featured[torch.randint(0, len(featured), (n,), generator=generator)]
    else:
        picked = featured[torch.multinomial(weights, n, replacement=True, generator=generator)]
    rest = torch.randint(0, total, (size - n,), generator=generator)
    return torch.cat([picked, rest]), n


def featured_captions(captions: CaptionConfig) -> CaptionConfig:
    """The caption rule for the featured share: every non-empty caption names its view."""
    return replace(captions, p_no_view=0.0)


def phase_generators(seed: int, config: ViewPhaseConfig) -> tuple[torch.Generator, random.Random]:
    """The phase's own torch and Python generators."""
    return torch.Generator().manual_seed(seed + config.seed_offset), random.Random(seed + config.seed_offset)
