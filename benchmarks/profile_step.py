#!/usr/bin/env python
"""Where a training step's time goes: ``torch.profiler`` over a method's steps.

    python benchmarks/profile_step.py --config configs/dreamfusion.yaml [--steps 20] [--start 100]
        [--threads 2] [--top 25] [key=value ...]

Builds the config's recipe with its prior, runs ``--start`` steps unprofiled (so the occupancy
grid and the densification have done their first work), then ``--steps`` steps under the
profiler, and prints the operators with the most self CPU time, and the engine's own sections
(render, prior, backward, optimizer, upkeep). Nothing is written to disk.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--start", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from dream3d.allocator import keep_freed_memory
    from dream3d.methods import build_recipe, load_config
    from dream3d.recipe import RecipeRun

    keep_freed_memory()  # as launch.py does

    config = load_config(args.config, args.overrides)
    torch.manual_seed(config.seed)
    run = RecipeRun(build_recipe(config), torch.device("cpu"))

    def step(index: int) -> None:
        loss, _ = run.training_step(index)
        optimizers = run.optimizers(index)
        with run.timer.section("backward"):
            loss.backward()
        with run.timer.section("optimizer"):
            for optimizer in optimizers.values():
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        run.after_step(index)

    for index in range(args.start):
        step(index)
    run.timer.totals.clear()
    begin = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for index in range(args.start, args.start + args.steps):
            step(index)
    seconds = time.perf_counter() - begin
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))
    total = sum(run.timer.totals.values())
    print(f"{args.steps} steps in {seconds:.2f} s under the profiler ({args.steps / seconds:.2f} steps/s)")
    for name, value in sorted(run.timer.totals.items(), key=lambda kv: -kv[1]):
        print(f"  {name:10s} {value:7.2f} s  {100 * value / total:5.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
