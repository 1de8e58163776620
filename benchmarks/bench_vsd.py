"""Step time of VSD (ProlificDreamer) against SDS (DreamFusion) with the same prior, on CPU.

Two measurements, each as the median over ``--steps`` steps, with VSD and SDS steps
interleaved so that both see the same machine load:

1. guidance step: ``guidance.loss`` of a render-sized image + backward (+ the LoRA's Adam
   step for VSD). VSD adds to SDS one LoRA forward (its estimate of the render score) and
   one LoRA forward + backward (its denoising loss).
2. system step: ``configs/dreamfusion.yaml`` (SDS) against the NeRF stage of
   ``configs/prolificdreamer.yaml`` (VSD): render, guidance, backward, optimizers, upkeep.

The bundled prior (``extern/priors/dream3d-shapes-v2``) is used when present, else a tiny
random prior built in a temporary folder. The target is VSD <= 2x SDS.

Usage: ``python benchmarks/bench_vsd.py [--prior PATH|tiny|bundled-architecture] [--steps 30] [--threads 1]``
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def random_bundled_architecture(directory: Path) -> Path:
    """A prior with the bundled prior's architecture (``train_shapes.Sizes``) and random weights.

    Step time does not depend on the weights, so this stands in for the bundled prior
    before it is trained. The tokenizer is the tests' character tokenizer.
    """
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPTokenizer

    from dream3d.prior.train_shapes import Sizes, build_models, make_scheduler

    sys.path.insert(0, str(REPO / "tests"))
    from tiny_prior import write_char_tokenizer

    sizes = Sizes()
    write_char_tokenizer(directory.parent / "tokenizer-src", max_length=sizes.max_tokens)
    tokenizer = CLIPTokenizer.from_pretrained(directory.parent / "tokenizer-src")
    vae, unet, text_encoder = build_models(sizes, len(tokenizer))
    StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=make_scheduler(),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    ).save_pretrained(directory)
    return directory


def resolve_prior(requested: str | None, scratch: Path) -> str:
    """The prior to benchmark: ``--prior`` (``tiny``, ``bundled-architecture`` or a folder),
    else the bundled one, else a tiny random one."""
    from dream3d.prior.source import BUNDLED_PRIOR

    if requested == "bundled-architecture":
        return str(random_bundled_architecture(scratch / "bundled-architecture"))
    if requested and requested != "tiny":
        return requested
    if requested is None and (REPO / BUNDLED_PRIOR / "model_index.json").is_file():
        return str(REPO / BUNDLED_PRIOR)
    sys.path.insert(0, str(REPO / "tests"))
    from tiny_prior import build_tiny_prior

    if requested is None:
        print("bundled prior not found: using a tiny random prior")
    return str(build_tiny_prior(scratch / "tiny-sd"))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(a, b, steps: int, warmup: int = 2) -> tuple[float, float]:
    """Median seconds of ``a(step)`` and ``b(step)``, alternating."""
    for step in range(warmup):
        a(step), b(step)
    times_a, times_b = [], []
    for step in range(warmup, warmup + steps):
        times_a.append(timed(lambda s=step: a(s)))
        times_b.append(timed(lambda s=step: b(s)))
    return statistics.median(times_a), statistics.median(times_b)


def guidance_steps(prior_path: str, image_size: int):
    """Step functions of SDS and VSD guidance, each on its own copy of the prior."""
    from dream3d.cameras import orbit_cameras
    from dream3d.guidance import GuidanceConfig, build_guidance
    from dream3d.prior.model import TextToImagePrior
    from dream3d.prior.prompts import PromptConfig, build_text_condition

    cameras = orbit_cameras(1, height=image_size, width=image_size)

    def make(kind: str):
        prior = TextToImagePrior.from_pretrained(prior_path)
        prompts = build_text_condition(prior, "a red cube", "", PromptConfig(use_cache=False))
        guidance = build_guidance(prior, GuidanceConfig(type=kind, guidance_scale=7.5), max_steps=1000)
        image = torch.rand(1, 3, image_size, image_size, requires_grad=True)
        optimizers = list(getattr(guidance, "optimizers", dict)().values())

        def step(i: int) -> None:
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            image.grad = None
            loss, _ = guidance.loss(image, cameras, prompts, i)
            loss.backward()
            for optimizer in optimizers:
                optimizer.step()

        return step

    return make("sds"), make("vsd")


def vsd_sections(prior_path: str, steps: int) -> dict[str, float]:
    """Median milliseconds of the parts of a VSD guidance step (UNet calls only)."""
    from dream3d.cameras import orbit_cameras
    from dream3d.guidance import GuidanceConfig, build_guidance
    from dream3d.guidance.camera_embedding import camera_condition
    from dream3d.prior.model import TextToImagePrior
    from dream3d.prior.prompts import PromptConfig, build_text_condition

    prior = TextToImagePrior.from_pretrained(prior_path)
    prompts = build_text_condition(prior, "a red cube", "", PromptConfig(use_cache=False))
    vsd = build_guidance(prior, GuidanceConfig(type="vsd", guidance_scale=7.5), max_steps=1000)
    cameras = orbit_cameras(1)
    cond, uncond = prompts.for_cameras(cameras)
    size = prior.latent_size
    latents, t = torch.randn(1, prior.latent_channels, size, size), torch.tensor([500])
    parts = {
        "pretrained CFG (batch 2)": lambda: vsd.pretrained_noise(latents, t, cond, uncond),
        "LoRA estimate": lambda: vsd.lora_noise(latents, t, cond, camera_condition(cameras.c2w)),
        "LoRA loss fwd+bwd": lambda: vsd.lora_loss(latents, cameras, prompts).backward(),
    }
    times: dict[str, list[float]] = {name: [] for name in parts}
    for i in range(steps + 2):
        for name, fn in parts.items():
            elapsed = timed(fn)
            if i >= 2:
                times[name].append(elapsed)
    return {name: 1000 * statistics.median(values) for name, values in times.items()}


def system_steps(prior_path: str):
    """Step functions of the DreamFusion system (SDS) and ProlificDreamer's NeRF stage (VSD)."""
    from dream3d.methods import build_recipe, load_config
    from dream3d.recipe import RecipeRun

    def make(config_name: str, extra: list[str]):
        overrides = [f"system.prior.pretrained={prior_path}", "system.prompt_processing.use_cache=false",
                     *extra]
        config = load_config(REPO / "configs" / config_name, overrides)
        system = RecipeRun(build_recipe(config), torch.device("cpu"))
        optimizers = list(system.optimizers(0).values())

        def step(i: int) -> None:
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            loss, _ = system.training_step(i)
            loss.backward()
            for optimizer in optimizers:
                optimizer.step()
            system.after_step(i)

        return step

    return make("dreamfusion.yaml", []), make("prolificdreamer.yaml", ["system.stage=nerf"])


def report(name: str, sds: float, vsd: float) -> None:
    print(f"{name:14s} SDS {1000 * sds:8.1f} ms   VSD {1000 * vsd:8.1f} ms   VSD/SDS {vsd / sds:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", default=None,
                        help="a diffusers folder, 'tiny', or 'bundled-architecture' (random weights); default: bundled, else tiny")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--image-size", type=int, default=32, help="render size of the guidance-only step")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as scratch:
        prior_path = resolve_prior(args.prior, Path(scratch))
        print(f"prior: {prior_path}; {args.threads} thread(s); median of {args.steps} interleaved steps")
        report("guidance step", *interleaved(*guidance_steps(prior_path, args.image_size), args.steps))
        report("system step", *interleaved(*system_steps(prior_path), args.steps))
        sections = vsd_sections(prior_path, args.steps)
        print("VSD parts:     " + "   ".join(f"{name} {ms:.1f} ms" for name, ms in sections.items()))


if __name__ == "__main__":
    main()
