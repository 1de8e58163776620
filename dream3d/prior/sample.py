"""Draw 2D samples from a prior: a grid of DDIM samples with classifier-free guidance.

    python -m dream3d.prior.sample --prompt "a red cube, side view" --out grid.png \
        [--prior extern/priors/dream3d-shapes-v2] [--steps 50] [--scale 7.5] [--n 16] [--seed 0]
    python -m dream3d.prior.sample --image in.png --elevation 30 --azimuth 90 --out grid.png \
        --prior PATH_OR_HUB_ID_OF_A_VIEW_CONDITIONED_PRIOR [--reference-elevation 0]

With ``--image``, a view-conditioned prior (Zero123 layout) draws the object of the image
as seen from the camera at ``--elevation``/``--azimuth``, relative to the reference camera
(``--reference-elevation``, azimuth 0).

DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models") with the prior's own
scheduler configuration; classifier-free guidance (Ho & Salimans 2022)
``eps = eps_uncond + scale * (eps_cond - eps_uncond)``. A prompt with words the prior
does not know is refused: the message is printed and the exit code is 2.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from torch import Tensor

from dream3d.cameras import Cameras
from dream3d.guidance.diffusion import ddim_denoise
from dream3d.image_input import ImageInputError, load_reference_image
from dream3d.interfaces import Conditioning, Prior
from dream3d.prior.image_condition import ImageCondition, ReferenceView
from dream3d.prior.model import TextToImagePrior
from dream3d.prior.view_conditioned import ViewConditionedPrior
from dream3d.prior.source import BUNDLED_PRIOR, PriorLoadError
from dream3d.prior.vocabulary import OutOfVocabularyError


@torch.no_grad()
def ddim_sample(prior: TextToImagePrior, prompt: str, n: int = 16, steps: int = 50, scale: float = 7.5,
                seed: int = 0, negative_prompt: str = "") -> Tensor:
    """``n`` images ``[n,3,H,W]`` in [0,1] for ``prompt`` (raises ``OutOfVocabularyError``)."""
    prior.check_prompt(prompt)
    text = prior.encode_text([negative_prompt, prompt])  # [2,L,D]
    uncond, cond = Conditioning(text[:1].expand(n, -1, -1)), Conditioning(text[1:].expand(n, -1, -1))
    return ddim_sample_conditioned(prior, cond, uncond, steps, scale, seed)


@torch.no_grad()
def novel_view_sample(prior: ViewConditionedPrior, image: Tensor, reference: ReferenceView, elevation: float,
                      azimuth: float, distance: float | None = None, n: int = 16, steps: int = 50, scale: float = 3.0,
                      seed: int = 0) -> Tensor:
    """``n`` views ``[n,3,H,W]`` of the object in ``image [1,3,H,W]`` from the given camera."""
    distance = reference.distance if distance is None else distance
    cameras = Cameras.from_spherical(torch.full((n,), float(elevation)), torch.full((n,), float(azimuth)),
                                     torch.full((n,), float(distance)), 40.0, prior.image_size, prior.image_size)
    cond, uncond = ImageCondition.from_image(prior, image, reference).for_cameras(cameras)
    return ddim_sample_conditioned(prior, cond, uncond, steps, scale, seed)


@torch.no_grad()
def ddim_sample_conditioned(prior: Prior, cond: Conditioning, uncond: Conditioning, steps: int, scale: float,
                            seed: int) -> Tensor:
    """DDIM from pure noise to ``len(cond)`` images ``[n,3,H,W]`` in [0,1]."""
    from diffusers import DDIMScheduler

    n = len(cond)
    scheduler = DDIMScheduler.from_config(prior.scheduler.config)
    scheduler.set_timesteps(steps)
    generator = torch.Generator().manual_seed(seed)
    size = prior.latent_size
    latents = torch.randn(n, prior.latent_channels, size, size, generator=generator)  # [n,C,h,w]
    latents = (latents * scheduler.init_noise_sigma).to(prior.device, prior.dtype)
    latents = ddim_denoise(prior, scheduler, latents, scheduler.timesteps, cond, uncond, scale)
    return prior.decode_latents(latents).float().cpu()


def image_grid(images: Tensor, columns: int | None = None) -> Tensor:
    """Tile ``[n,3,H,W]`` images into one ``[H',W',3]`` image (white where empty)."""
    n, _, height, width = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = torch.ones(rows * height, columns * width, 3)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        grid[r * height:(r + 1) * height, c * width:(c + 1) * width] = image.permute(1, 2, 0)
    return grid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Grid of DDIM samples (classifier-free guidance) from a prior.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompt", help="a text prompt (text-to-image prior)")
    source.add_argument("--image", type=Path, help="a reference image (view-conditioned prior)")
    parser.add_argument("--elevation", type=float, default=0.0, help="with --image: the new view's elevation (degrees)")
    parser.add_argument("--azimuth", type=float, default=0.0, help="with --image: the new view's azimuth (degrees)")
    parser.add_argument("--reference-elevation", type=float, default=0.0,
                        help="with --image: the elevation the image was taken from (degrees)")
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write")
    parser.add_argument("--prior", default=BUNDLED_PRIOR, help="local diffusers folder or hub id")
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps")
    parser.add_argument("--scale", type=float, default=None,
                        help="classifier-free guidance scale (default 7.5 for text, 3 for images)")
    parser.add_argument("--n", type=int, default=16, help="number of samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    from dream3d.media import to_uint8, write_image

    try:
        if args.image is not None:
            reference_image = load_reference_image(args.image)  # checked before the prior loads
            prior = ViewConditionedPrior.from_pretrained(args.prior, device=args.device)
            images = novel_view_sample(prior, reference_image.rgb[None], ReferenceView(args.reference_elevation, 0.0),
                                       args.elevation, args.azimuth, n=args.n, steps=args.steps,
                                       scale=3.0 if args.scale is None else args.scale, seed=args.seed)
            what = f"views of {args.image} at elevation {args.elevation:g}, azimuth {args.azimuth:g}"
        else:
            prior = TextToImagePrior.from_pretrained(args.prior, device=args.device)
            images = ddim_sample(prior, args.prompt, n=args.n, steps=args.steps,
                                 scale=7.5 if args.scale is None else args.scale, seed=args.seed)
            what = f"samples of {args.prompt!r}"
    except (OutOfVocabularyError, ImageInputError) as error:
        print(error, file=sys.stderr)
        return 2
    except PriorLoadError as error:
        print(error, file=sys.stderr)
        return 1
    write_image(args.out, to_uint8(image_grid(images)))
    print(f"wrote {args.out} ({args.n} {what})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
