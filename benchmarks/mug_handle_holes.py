"""How often a mug's handle shows its see-through hole: the text prior's 2D samples against true renders.

For each colour, "a {colour} mug, front view" and "..., back view" are sampled (DDIM, classifier-free
guidance) and compared with true renders from the dataset cameras of the same view (azimuth within 45
degrees of 0 or 180). An image shows the hole when its foreground (any channel under 0.85 on the white
background) encloses at least ``--min-pixels`` background pixels (``scipy.ndimage.binary_fill_holes``).

Usage: ``python benchmarks/mug_handle_holes.py [--samples 24] [--steps 25] [--seed 0]
[--output benchmarks/mug-handle-holes-2d.json]``
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import binary_fill_holes

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dream3d.eval.prior_features import shows_half, view_bank  # noqa: E402
from dream3d.prior.model import TextToImagePrior  # noqa: E402
from dream3d.prior.catalog import COLOURS  # noqa: E402
from dream3d.prior.sample import ddim_sample  # noqa: E402
from dream3d.prior.source import BUNDLED_PRIOR  # noqa: E402


def shows_hole(image: torch.Tensor, min_pixels: int) -> bool:
    """Whether the foreground of ``image [3,H,W]`` (on white) encloses ``min_pixels`` background pixels."""
    foreground = image.min(0).values.numpy() < 0.85
    return int((binary_fill_holes(foreground) & ~foreground).sum()) >= min_pixels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", default=str(REPO / BUNDLED_PRIOR))
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-pixels", type=int, default=2)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "mug-handle-holes-2d.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    prior = TextToImagePrior.from_pretrained(args.prior)
    rows = []
    for colour in COLOURS:
        bank, azimuths = view_bank("mug", colour, seed=args.seed)
        for view in ("front", "back"):
            at_view = shows_half(azimuths, view) & (torch.cos(torch.deg2rad(azimuths)).abs() > np.cos(np.pi / 4))
            truth = [shows_hole(image, args.min_pixels) for image in bank[at_view]]
            samples = ddim_sample(prior, f"a {colour} mug, {view} view", n=args.samples, steps=args.steps,
                                  seed=args.seed)
            drawn = [shows_hole(image, args.min_pixels) for image in samples]
            rows.append({"colour": colour, "view": view, "samples_with_hole": sum(drawn), "samples": len(drawn),
                         "true_renders_with_hole": sum(truth), "true_renders": len(truth)})
            print(f"{colour:7s} {view:5s} samples {sum(drawn):2d}/{len(drawn)}  true renders {sum(truth)}/{len(truth)}")
    args.output.write_text(json.dumps({"prior": Path(args.prior).name, "steps": args.steps, "seed": args.seed,
                                       "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
