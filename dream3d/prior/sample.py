"""Draw 2D samples from a prior: a grid of DDIM samples with classifier-free guidance.

    python -m dream3d.prior.sample --prompt "a red cube, side view" --out grid.png \
        [--prior extern/priors/dream3d-shapes] [--steps 50] [--scale 7.5] [--n 16] [--seed 0]

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

from dream3d.guidance.diffusion import ddim_denoise
from dream3d.interfaces import Conditioning
from dream3d.prior.model import TextToImagePrior
from dream3d.prior.source import BUNDLED_PRIOR, PriorLoadError
from dream3d.prior.vocabulary import OutOfVocabularyError


@torch.no_grad()
def ddim_sample(prior: TextToImagePrior, prompt: str, n: int = 16, steps: int = 50, scale: float = 7.5,
                seed: int = 0, negative_prompt: str = "") -> Tensor:
    """``n`` images ``[n,3,H,W]`` in [0,1] for ``prompt`` (raises ``OutOfVocabularyError``)."""
    from diffusers import DDIMScheduler

    prior.check_prompt(prompt)
    scheduler = DDIMScheduler.from_config(prior.scheduler.config)
    scheduler.set_timesteps(steps)
    text = prior.encode_text([negative_prompt, prompt])  # [2,L,D]
    uncond, cond = Conditioning(text[:1].expand(n, -1, -1)), Conditioning(text[1:].expand(n, -1, -1))
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
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write")
    parser.add_argument("--prior", default=BUNDLED_PRIOR, help="local diffusers folder or hub id")
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps")
    parser.add_argument("--scale", type=float, default=7.5, help="classifier-free guidance scale")
    parser.add_argument("--n", type=int, default=16, help="number of samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    from dream3d.media import to_uint8, write_image

    try:
        prior = TextToImagePrior.from_pretrained(args.prior, device=args.device)
        images = ddim_sample(prior, args.prompt, n=args.n, steps=args.steps, scale=args.scale, seed=args.seed)
    except OutOfVocabularyError as error:
        print(error, file=sys.stderr)
        return 2
    except PriorLoadError as error:
        print(error, file=sys.stderr)
        return 1
    write_image(args.out, to_uint8(image_grid(images)))
    print(f"wrote {args.out} ({args.n} samples of {args.prompt!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
