"""How fast SDS moves an object's colour, in latent space and in image space (2D, bundled prior).

A controlled version of the 3D colour problem: one view of a primitive, rendered by the
prior's own dataset renderer, keeps its silhouette and shading fixed; only its albedo is
learned, either one RGB for the whole object (``global``) or one per pixel (``pixel``),
through a sigmoid from grey (0.5, 0.5, 0.5). Each step draws a timestep from the
DreamFusion config's schedule and applies ``dream3d.guidance.SDS`` with ``space: latent``
or ``space: image`` (HiFA); Adam as in the NeRF's grid. The script prints and writes the
mean albedo over the object every 100 steps and its hue class (``dream3d.eval.colour``).

Usage: ``python benchmarks/bench_sds_colour.py [--prompt "a orange cone"] [--steps 400] [--lr 0.02]
[--guidance-scale 7.5] [--output benchmarks/sds-colour-2d.md]``
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dream3d.cameras import Cameras  # noqa: E402
from dream3d.eval.colour import nearest_colour  # noqa: E402
from dream3d.guidance.schedules import TimestepConfig  # noqa: E402
from dream3d.guidance.sds import SDS, GuidanceConfig  # noqa: E402
from dream3d.prior import TextToImagePrior, shapes_data  # noqa: E402
from dream3d.prior.catalog import COLOURS, parse_prompt  # noqa: E402
from dream3d.prior.prompts import TextCondition, build_text_condition  # noqa: E402


def fixed_view(shape: str, colour: str) -> tuple[torch.Tensor, torch.Tensor, Cameras]:
    """Object mask ``[1,1,H,W]`` and grey-level shading ``[1,1,H,W]`` of one front view."""
    camera = Cameras.from_spherical(torch.tensor([20.0]), torch.tensor([30.0]), torch.tensor([2.5]), 40.0, 64, 64)
    image, _ = shapes_data.render([shape], [colour], camera)
    mask = (image < 0.99).any(1, keepdim=True).float()
    albedo = torch.tensor(COLOURS[colour], dtype=torch.float32).view(1, 3, 1, 1)
    shading = (image / albedo).mean(1, keepdim=True).clamp(0.0, 1.2)
    return mask, shading, camera


def run(prior: TextToImagePrior, embeddings: TextCondition, space: str, mode: str, args: argparse.Namespace) -> list[list[float]]:
    """Mean object albedo after every 100 steps."""
    target = parse_prompt(args.prompt)
    mask, shading, camera = fixed_view(target.shape, target.colour)
    guidance = SDS(prior, GuidanceConfig(guidance_scale=args.guidance_scale, space=space,
                                         timesteps=TimestepConfig(max_step_percent_end=0.5)), args.steps)
    logits = torch.zeros((1, 3, 1, 1) if mode == "global" else (1, 3, 64, 64), requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=args.lr, betas=(0.9, 0.99), eps=1e-15)
    torch.manual_seed(args.seed)
    trace = []
    for step in range(args.steps):
        image = mask * torch.sigmoid(logits) * shading + (1.0 - mask)
        loss, _ = guidance.loss(image, camera, embeddings, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % 100 == 0:
            albedo = torch.sigmoid(logits.detach()).expand(1, 3, 64, 64)
            trace.append([float(v) for v in (albedo * mask).sum((0, 2, 3)) / mask.sum()])
    return trace


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", default=str(REPO / "extern" / "priors" / "dream3d-shapes-v2"))
    parser.add_argument("--prompt", default="a orange cone")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--guidance-scale", type=float, default=7.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=None, help="write a markdown table here (and .json beside it)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if parse_prompt(args.prompt) is None:
        parser.error(f"--prompt must name one bundled-prior colour and shape, got {args.prompt!r}")
    prior = TextToImagePrior.from_pretrained(args.prior)
    target = COLOURS[parse_prompt(args.prompt).colour]
    embeddings = build_text_condition(prior, args.prompt)  # view-dependent: this camera reads "front view"
    rows, results = [], {}
    for mode in ("global", "pixel"):
        for space in ("latent", "image"):
            trace = run(prior, embeddings, space, mode, args)
            results[f"{mode}/{space}"] = trace
            final = trace[-1]
            name, _ = nearest_colour(torch.tensor(final).numpy())
            cells = " | ".join("(" + ", ".join(f"{v:.2f}" for v in rgb) + ")" for rgb in trace)
            rows.append(f"| {mode} | {space} | {cells} | {name} |")
            print(rows[-1], flush=True)
    checkpoints = " | ".join(f"step {100 * (i + 1)}" for i in range(len(results["global/latent"])))
    table = "\n".join([
        f"# SDS colour convergence in 2D: \"{args.prompt}\" (target albedo {tuple(target)})", "",
        f"`python benchmarks/bench_sds_colour.py --prompt \"{args.prompt}\" --steps {args.steps} --lr {args.lr} "
        f"--guidance-scale {args.guidance_scale}` (seed {args.seed}); mean albedo over the object, from grey.", "",
        f"| albedo | SDS space | {checkpoints} | hue class |",
        "|---|---|" + "---|" * len(results["global/latent"]) + "---|",
        *rows, "",
    ])
    if args.output:
        args.output.write_text(table)
        args.output.with_suffix(".json").write_text(json.dumps({"prompt": args.prompt, "target": target, "args": {
            k: v for k, v in vars(args).items() if k not in ("output", "prior")}, "mean_albedo_every_100_steps": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
