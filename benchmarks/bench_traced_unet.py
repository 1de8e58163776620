#!/usr/bin/env python
"""The bundled prior's UNet, eager against traced, side by side in one process.

    python benchmarks/bench_traced_unet.py [--prior extern/priors/dream3d-shapes-v2] [--calls 60]
        [--blocks 5] [--output benchmarks/traced-unet.json]

One SDS call's shapes (batch 2 for classifier-free guidance, the prior's own latent size),
timed in alternating blocks of ``--calls`` calls each, eager then traced, so both share the
machine's state; medians over blocks. Also checks that the two predictions are bit-identical.
The markdown goes next to the JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dream3d.interfaces import Conditioning  # noqa: E402
from dream3d.prior.model import TextToImagePrior  # noqa: E402
from dream3d.prior.source import BUNDLED_PRIOR  # noqa: E402


def block_ms(prior: TextToImagePrior, traced: bool, calls: int, generator: torch.Generator) -> float:
    """Mean milliseconds per ``predict_noise`` call over ``calls`` fresh draws."""
    prior.traced_unet.enabled = traced
    size, width = prior.latent_size, prior.text_encoder.config.hidden_size
    cond = Conditioning(context=torch.randn(2, prior.tokenizer.model_max_length, width, generator=generator))
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(calls):
            noisy = torch.randn(2, prior.latent_channels, size, size, generator=generator)
            t = torch.randint(20, 980, (2,), generator=generator)
            prior.predict_noise(noisy, t, cond)
    return (time.perf_counter() - start) / calls * 1000.0


def identical(prior: TextToImagePrior) -> bool:
    generator = torch.Generator().manual_seed(1)
    size, width = prior.latent_size, prior.text_encoder.config.hidden_size
    noisy = torch.randn(2, prior.latent_channels, size, size, generator=generator)
    t = torch.tensor([30, 700])
    cond = Conditioning(context=torch.randn(2, prior.tokenizer.model_max_length, width, generator=generator))
    with torch.no_grad():
        prior.traced_unet.enabled = True
        traced = prior.predict_noise(noisy, t, cond)
        prior.traced_unet.enabled = False
        eager = prior.predict_noise(noisy, t, cond)
    return bool(torch.equal(traced, eager))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", default=BUNDLED_PRIOR)
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "traced-unet.json")
    args = parser.parse_args(argv)

    prior = TextToImagePrior.from_pretrained(str(REPO / args.prior) if not Path(args.prior).is_absolute() else args.prior)
    generator = torch.Generator().manual_seed(0)
    for traced in (False, True):  # warm-up; the first traced call also records the trace
        block_ms(prior, traced, 5, generator)
    times: dict[str, list[float]] = {"eager": [], "traced": []}
    for _ in range(args.blocks):
        for label, traced in (("eager", False), ("traced", True)):
            times[label].append(block_ms(prior, traced, args.calls, generator))
    medians = {label: statistics.median(values) for label, values in times.items()}
    result = {"prior": args.prior, "threads": torch.get_num_threads(), "calls_per_block": args.calls,
              "blocks": args.blocks, "ms_per_call": times, "median_ms": medians,
              "bit_identical": identical(prior), "torch": torch.__version__}
    args.output.write_text(json.dumps(result, indent=2))
    shape = f"batch 2, {prior.latent_channels}x{prior.latent_size}x{prior.latent_size} latents"
    lines = [
        "# The bundled prior's UNet: eager against traced",
        "",
        f"`python benchmarks/bench_traced_unet.py`: `{args.prior}`, {shape}, {result['threads']} threads, "
        f"{args.blocks} alternating blocks of {args.calls} calls each (medians over blocks), torch {torch.__version__}.",
        "",
        "| forward | ms per call | blocks |",
        "|---|---|---|",
        *(f"| {label} | {medians[label]:.2f} | {', '.join(f'{v:.2f}' for v in times[label])} |" for label in times),
        "",
        f"Traced / eager: {medians['traced'] / medians['eager']:.2f}. The predictions are "
        f"{'bit-identical' if result['bit_identical'] else 'NOT identical'}.",
    ]
    args.output.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
