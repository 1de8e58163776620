"""Time saved by caching the NeRF's initial-shape fit (``dream3d.scene.initial_shape_cache``).

The fit is the same for every prompt at a given seed and config, so only the first run of
a (config, seed) fits; later runs load it. This times both, side by side in one process,
for the NeRF of each CPU config that fits a start (DreamFusion, ProlificDreamer).

Usage: ``python benchmarks/bench_initial_shape.py [--repeats 3] [--threads 1]``
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from dream3d.methods import load_config
from dream3d.scene.initial_shape_cache import fit_initial_shape_cached
from dream3d.scene.nerf import NeRFField

REPO = Path(__file__).resolve().parents[1]
CONFIGS = ("configs/dreamfusion.yaml", "configs/prolificdreamer.yaml")


def timed_fit(config_path: str, cache: Path, seed: int) -> tuple[float, bool]:
    """Seconds to build the field and fit (or load) its start, and whether the cache was hit."""
    nerf = load_config(REPO / config_path).system.nerf
    torch.manual_seed(seed)
    start = time.perf_counter()
    field = NeRFField(nerf)
    hit = fit_initial_shape_cached(field, nerf.initial_shape, cache)
    return time.perf_counter() - start, hit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"| config | fit (s), n={args.repeats} | cache hit (s), n={args.repeats} | saved per run (s) |")
    print("|---|---|---|---|")
    for config in CONFIGS:
        fits, hits = [], []
        for seed in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                seconds, hit = timed_fit(config, Path(tmp), seed)
                assert not hit
                fits.append(seconds)
                seconds, hit = timed_fit(config, Path(tmp), seed)
                assert hit
                hits.append(seconds)
        fit, hit = statistics.median(fits), statistics.median(hits)
        print(f"| {config} | {fit:.2f} (median; {min(fits):.2f}-{max(fits):.2f}) | {hit:.3f} | {fit - hit:.2f} |")


if __name__ == "__main__":
    main()
