"""How hard score distillation pulls a handle-less mug toward the mug, colour by colour.

For each colour, true renders of the mug and of its body alone (the mug without the handle) are made
from the dataset's cameras. At the body's render ``x``, with the prompt "a {colour} mug, {view} view",
one noise draw gives two SDS steps in pixels (``dream3d.guidance.sds``):

- the latent term, taken back through the encoder ``E``: ``-J_E(x)^T w(t) (eps_hat(z_t; y, t) - eps)``
  (DreamFusion, Poole et al. 2022, eq. 3);
- HiFA's image term (Zhu et al. 2023, sec. 3.2): ``-w(t) (alpha_t / sigma_t) (x - D(z0_hat))``.

The direction that adds the handle is ``d = x_mug - x_body``. Reported per colour and term, over cameras,
timesteps and noise draws:

- ``pull``: ``sum <step, d> / sum |d|^2``, the share of the handle that one unit step adds;
- ``cosine``: the mean cosine between the step and ``d``;
- ``handle_pixels``: the mean ``|d|^2``, how much of the render the handle changes.

Timesteps are drawn uniformly from [0.02, 0.98] of the schedule, as DreamFusion's first steps draw them,
and from [0.02, 0.5], where its timestep anneal ends.

Usage: ``python benchmarks/mug_handle_pull.py [--cameras 32] [--draws 16] [--seed 0]
[--output benchmarks/mug-handle-pull-2d.json]``
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dream3d.cameras import CameraSampler, view_label  # noqa: E402
from dream3d.guidance.diffusion import classifier_free_guidance, weighting  # noqa: E402
from dream3d.interfaces.condition import Conditioning  # noqa: E402
from dream3d.prior import primitives  # noqa: E402
from dream3d.prior.catalog import COLOURS, caption  # noqa: E402
from dream3d.prior.model import TextToImagePrior  # noqa: E402
from dream3d.prior.shapes_data import render  # noqa: E402
from dream3d.prior.source import BUNDLED_PRIOR  # noqa: E402

BODY = "mug body"


def sds_pixel_updates(prior: TextToImagePrior, images: torch.Tensor, context: torch.Tensor, empty: torch.Tensor,
                      t: torch.Tensor, scale: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The SDS steps in pixels at ``images [B,3,H,W]`` from one noise draw: the latent term taken back
    through the encoder, ``-J_E^T w(t) (eps_hat - eps)``, and HiFA's image term,
    ``-w(t) (alpha_t / sigma_t) (x - D(z0_hat))`` (``dream3d.guidance.sds``)."""
    x = images.clone().requires_grad_(True)
    latents = prior.encode_images(x)
    noise = torch.randn(latents.shape, generator=generator)
    noisy = prior.add_noise(latents.detach(), noise, t)
    with torch.no_grad():
        eps = prior.predict_noise(torch.cat([noisy, noisy]), torch.cat([t, t]),
                                  Conditioning(torch.cat([context, empty.expand_as(context)])))
        eps_cond, eps_uncond = eps.chunk(2)
        eps_hat = classifier_free_guidance(eps_uncond, eps_cond, scale)
        w = weighting("sds", prior.alphas_cumprod, t).view(-1, 1, 1, 1)
        abar = prior.alphas_cumprod[t].view(-1, 1, 1, 1)
        denoised = prior.decode_latents(prior.clean_latents(noisy, eps_hat, t))
        image_step = -w * (abar / (1.0 - abar)).sqrt() * (images - denoised)
    (g,) = torch.autograd.grad(latents, x, grad_outputs=w * (eps_hat - noise))
    return -g, image_step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", default=str(REPO / BUNDLED_PRIOR))
    parser.add_argument("--cameras", type=int, default=32)
    parser.add_argument("--draws", type=int, default=16, help="(timestep, noise) draws per camera")
    parser.add_argument("--scale", type=float, default=7.5, help="classifier-free guidance scale")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "mug-handle-pull-2d.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    primitives.SDFS.setdefault(BODY, primitives.sdf_mug_body)
    prior = TextToImagePrior.from_pretrained(args.prior)
    cameras = CameraSampler().sample(0, torch.Generator().manual_seed(args.seed), batch_size=args.cameras)
    positions = cameras.positions()
    azimuths = torch.rad2deg(torch.atan2(positions[:, 1], positions[:, 0]))
    elevations = torch.rad2deg(torch.asin(positions[:, 2] / positions.norm(dim=-1)))
    views = [view_label(float(e), float(a)) for e, a in zip(elevations, azimuths)]
    empty = prior.encode_text([""])
    n = prior.num_train_timesteps
    rows = []
    for label, (low, high) in (("0.02-0.98", (0.02, 0.98)), ("0.02-0.50", (0.02, 0.50))):
        for colour in COLOURS:
            mug, _ = render(["mug"] * len(cameras), [colour] * len(cameras), cameras)
            body, _ = render([BODY] * len(cameras), [colour] * len(cameras), cameras)
            d = mug - body
            context = prior.encode_text([caption(colour, "mug", view) for view in views])
            generator = torch.Generator().manual_seed(args.seed)
            along, cosines = {"latent": 0.0, "image": 0.0}, {"latent": [], "image": []}
            for _ in range(args.draws):
                t = torch.randint(int(low * n), int(high * n) + 1, (len(cameras),), generator=generator)
                steps = sds_pixel_updates(prior, body, context, empty, t, args.scale, generator)
                for term, step in zip(("latent", "image"), steps):
                    dot = (step * d).flatten(1).sum(1)
                    along[term] += float(dot.sum())
                    cosines[term].append(dot / (step.flatten(1).norm(dim=1) * d.flatten(1).norm(dim=1)).clamp_min(1e-12))
            norm2 = args.draws * float((d * d).sum())  # the sum of |d|^2 over cameras and draws
            row = {"timesteps": label, "colour": colour, "handle_pixels": float((d * d).flatten(1).sum(1).mean()),
                   "cameras": len(cameras), "draws": args.draws}
            for term in ("latent", "image"):
                row[f"{term}_pull"] = along[term] / norm2
                row[f"{term}_cosine"] = float(torch.cat(cosines[term]).mean())
            rows.append(row)
            print(f"{label} {colour:7s} |d|^2 {row['handle_pixels']:5.1f}  latent: pull {row['latent_pull']:+.4f} "
                  f"cosine {row['latent_cosine']:+.4f}  image: pull {row['image_pull']:+.4f} cosine {row['image_cosine']:+.4f}")
    args.output.write_text(json.dumps({"prior": Path(args.prior).name, "scale": args.scale, "seed": args.seed,
                                       "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
