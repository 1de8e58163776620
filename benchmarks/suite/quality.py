"""Ground-truth quality: every bundled-prior prompt (seen and held-out apart) at a fixed seed.

Each prompt is trained with a method's CPU config and scored by ``dream3d.eval`` (shape by
Chamfer matching against the six primitives, colour by hue; pass = both right), through
``dream3d.eval.batch.run_batch``. Turntable videos and previews are switched off: they
do not change the asset.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from suite.methods import METHODS

SEED = 0

QUICK_PROMPTS = ("a red cube", "a blue sphere", "a yellow cylinder", "a green torus",  # seen
                 "a purple sphere", "a red pyramid")  # held out: (shape + colour index) % 6 == 5
"""``--quick``: four seen and two held-out pairs, covering every shape but the cone."""
QUICK_HELD_OUT = 2

QUICK_STEPS: dict[str, list[str]] = {
    "dreamfusion": ["trainer.max_steps=150"],
    "prolificdreamer": ["trainer.max_steps=200", "system.texture_steps=40"],
    "dreamgaussian": ["trainer.max_steps=150", "system.refine_steps=15", "system.gaussians.position_lr_max_steps=130",
                      "system.gaussians.densify.refine_start_iter=30", "system.gaussians.densify.refine_stop_iter=100",
                      "system.gaussians.densify.refine_every=25"],
}
"""``--quick``: fewer steps than the configs (whose own counts are used in full mode)."""


def prompts_for(mode: str) -> list[str]:
    """Every catalogue prompt in full mode; the quick subset otherwise."""
    from dream3d.prior.catalog import all_prompts, parse_prompt

    if mode == "full":
        return [p.text for p in all_prompts()]
    chosen = list(QUICK_PROMPTS[:2]) if mode == "smoke" else list(QUICK_PROMPTS)
    pairs = [parse_prompt(p) for p in chosen]
    assert all(pair is not None for pair in pairs)
    if mode == "quick":
        assert sum(pair.held_out for pair in pairs) == QUICK_HELD_OUT
    return chosen


def run_quality(repo: Path, method: str, prior: str, mode: str, scratch: Path, budget: float | None = None) -> dict:
    """Train and evaluate each prompt; summary per split and per-prompt rows.

    ``budget``: seconds after which no new prompt is started; the result then says how many
    of the planned prompts it covers (catalogue order: each block of six prompts is one
    shape in every colour, one of them held out).
    """
    from dream3d.eval.batch import BatchReport, run_batch

    os.environ["DREAM3D_CACHE_DIR"] = str(scratch / "cache")
    os.environ["HF_HUB_OFFLINE"] = "1"
    overrides = [f"system.prior.pretrained={prior}", f"seed={SEED}", "device=cpu", "trainer.video=false",
                 "trainer.preview_every=0", "trainer.progress_bar=false"]
    if mode == "quick":
        overrides += QUICK_STEPS[method]
    elif mode == "smoke":
        overrides += ["trainer.max_steps=3", "export.resolution=32", "export.texture_size=32",
                      "system.camera.height=16", "system.camera.width=16"]
    planned = prompts_for(mode)
    report, done = BatchReport(), 0
    start = time.perf_counter()
    for prompt in planned:
        if budget is not None and time.perf_counter() - start > budget:
            break
        one = run_batch([prompt], str(repo / METHODS[method]), overrides, scratch / "runs")
        report.results += one.results
        report.failures.update(one.failures)
        done += 1
    report.write(scratch / "runs")
    seconds = time.perf_counter() - start
    return {
        "seed": SEED,
        "overrides": [o for o in overrides if not o.startswith("system.prior.pretrained")],
        "prompts": done,
        "prompts_planned": len(planned),
        "complete": done == len(planned),
        "seconds": seconds,
        "seconds_per_prompt": seconds / max(done, 1),
        "summary": report.summary(),
        "results": [r.to_dict() for r in report.results],
        "failures": report.failures,
    }
