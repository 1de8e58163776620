"""Step time of multi-view SDS (MVDream layout, 4 views) against single-view SDS, on CPU.

The issue's target: a multi-view step costs at most 4x a single-view SDS step at the same
render size. Both priors have the bundled prior's architecture (``train_shapes.Sizes``) with
random weights (step time does not depend on the weights); the multi-view one adds MVDream's
camera MLP and cross-view self-attention. Three configurations, interleaved step by step so
that all see the same machine load, each the median over ``--steps`` steps:

- ``sds x1``: single-view SDS on one render (``configs/dreamfusion.yaml``);
- ``sds x4``: single-view SDS on 4 independent renders (``camera.batch_size=4``), the cost of
  the batch alone;
- ``mv-sds``: multi-view SDS on the 4-view layout (``camera.views=4``).

Measured at two levels: the guidance step alone (``loss`` + backward on renders of the prior's
size) and the system step (render, guidance, backward, optimizers, upkeep). The NeRF's fitted
start is skipped (``initial_shape.steps=0``). ``--nerf RUN_DIR`` loads a trained DreamFusion
NeRF (``dreamfusion.yaml`` or ``dreamfusion-mv.yaml``) into every system first: the render and
its backward grow with the samples queried, which are every sample in a fresh field (its
occupancy grid is still full) and the occupied ones in a trained field. The system level
also times the 4-view layout with every camera rendered in one batch (``mv-sds together``,
``system.renderer.camera_chunk=0``) beside the default of one camera at a time.

Usage: ``python benchmarks/bench_multiview.py [--steps 15] [--threads 1] [--render-size 64] [--nerf RUN_DIR] [--json FILE]``
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))

from bench_vsd import random_bundled_architecture, timed  # noqa: E402


def multiview_of(text_prior: Path, directory: Path) -> Path:
    """The prior at ``text_prior`` with its UNet replaced by a same-sized multi-view UNet (random)."""
    from diffusers import UNet2DConditionModel

    from dream3d.prior.model import TextToImagePrior
    from dream3d.prior.multiview import MultiViewInfo, multiview_unet_config, save_multiview_prior

    prior = TextToImagePrior.from_pretrained(str(text_prior))
    unet = UNet2DConditionModel(**multiview_unet_config(dict(prior.unet.config)))
    save_multiview_prior(directory, unet, prior.vae, prior.text_encoder, prior.tokenizer, prior.scheduler,
                         MultiViewInfo(num_views=4))
    return directory


MULTIVIEW = ["system.prior.type=multiview", "system.guidance.type=multiview-sds", "system.camera.views=4",
             "system.prompt_processing.view_dependent=false"]


def trained_nerf(run_dir: Path) -> dict:
    """The NeRF stage's state in ``run_dir/ckpts/last.ckpt`` (a DreamFusion run)."""
    state = torch.load(run_dir / "ckpts" / "last.ckpt", map_location="cpu", weights_only=False)
    return state["recipe"]["stages"]["nerf"]["representation"]


def system_step(prior: Path, size: int, extra: list[str], nerf: dict | None = None):
    """One DreamFusion system step (``configs/dreamfusion.yaml`` with ``extra`` overrides),
    from the NeRF state ``nerf`` when given."""
    from dream3d.methods import build_recipe, load_config
    from dream3d.recipe import RecipeRun

    overrides = [f"system.prior.pretrained={prior}", "system.prompt_processing.use_cache=false",
                 "system.nerf.initial_shape.steps=0", f"system.camera.height={size}", f"system.camera.width={size}", *extra]
    run = RecipeRun(build_recipe(load_config(REPO / "configs/dreamfusion.yaml", overrides)), torch.device("cpu"))
    if nerf is not None:
        run.representations["nerf"].load_state_dict(nerf)
    optimizers = list(run.optimizers(0).values())

    def step(i: int) -> None:
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss, _ = run.training_step(i)
        loss.backward()
        for optimizer in optimizers:
            optimizer.step()
        run.after_step(i)

    return step


def guidance_step(prior_path: Path, kind: str, views: int, size: int):
    """``loss`` + backward of SDS (``views`` independent renders) or multi-view SDS (one layout)."""
    from dream3d.cameras import CameraSampler, CameraSamplerConfig
    from dream3d.guidance import GuidanceConfig, build_guidance
    from dream3d.prior.factory import build_condition, build_prior
    from dream3d.prior.config import PriorConfig
    from dream3d.prior.perp_neg_condition import PromptProcessingConfig

    multiview = kind == "multiview-sds"
    config = PriorConfig(type="multiview" if multiview else "text", pretrained=str(prior_path))
    prior = build_prior(config, torch.device("cpu"))
    condition = build_condition(prior, config, "a red cube", "", PromptProcessingConfig(view_dependent=not multiview, use_cache=False))
    guidance = build_guidance(prior, GuidanceConfig(type=kind, guidance_scale=7.5), max_steps=1000)
    sampler = CameraSamplerConfig(views=4, height=size, width=size) if multiview else \
        CameraSamplerConfig(batch_size=views, height=size, width=size)
    cameras = CameraSampler(sampler).sample(0, torch.Generator().manual_seed(0))
    images = torch.rand(len(cameras), 3, size, size, requires_grad=True)

    def step(i: int) -> None:
        images.grad = None
        loss, _ = guidance.loss(images, cameras, condition, i)
        loss.backward()

    return step


def interleaved_all(fns: dict, steps: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds of each step function, all run in turn at every step."""
    for step in range(warmup):
        for fn in fns.values():
            fn(step)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for step in range(warmup, warmup + steps):
        for name, fn in fns.items():
            times[name].append(timed(lambda f=fn, s=step: f(s)))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15, help="timed steps per measurement")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--render-size", type=int, default=64, help="render height and width of every view")
    parser.add_argument("--nerf", type=Path, help="a DreamFusion run directory whose trained NeRF every system starts from")
    parser.add_argument("--json", type=Path, help="write the medians here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = {"steps": args.steps, "threads": args.threads, "render_size": args.render_size,
               "nerf": "trained" if args.nerf else "fresh"}
    nerf = trained_nerf(args.nerf) if args.nerf else None
    with tempfile.TemporaryDirectory() as scratch:
        text = random_bundled_architecture(Path(scratch) / "text")
        mv = multiview_of(text, Path(scratch) / "multiview")
        size = args.render_size
        levels = {
            "guidance": {"sds x1": guidance_step(text, "sds", 1, size), "sds x4": guidance_step(text, "sds", 4, size),
                         "mv-sds": guidance_step(mv, "multiview-sds", 4, size)},
            "system": {"sds x1": system_step(text, size, [], nerf),
                       "sds x4": system_step(text, size, ["system.camera.batch_size=4"], nerf),
                       "mv-sds": system_step(mv, size, MULTIVIEW, nerf),
                       "mv-sds together": system_step(mv, size, [*MULTIVIEW, "system.renderer.camera_chunk=0"], nerf)},
        }
        print(f"bundled architecture, random weights; {'trained' if nerf else 'fresh'} NeRF; {args.threads} thread(s); renders {size}x{size}; "
              f"median of {args.steps} interleaved steps")
        for level, fns in levels.items():
            times = interleaved_all(fns, args.steps)
            results[level] = {name: round(1000 * s, 2) for name, s in times.items()}
            ratio = times["mv-sds"] / times["sds x1"]
            results[level]["mv_over_sds_x1"] = round(ratio, 2)
            print(f"{level:9s} " + "   ".join(f"{n} {1000 * s:7.1f} ms" for n, s in times.items())
                  + f"   mv-sds / sds x1 = {ratio:.2f}x (target <= 4x)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
