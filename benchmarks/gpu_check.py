#!/usr/bin/env python
"""One prepared check of every CUDA path, for a machine with a GPU.

    python benchmarks/gpu_check.py [--output-dir DIR] [--budget-seconds S] [--smoke]

In order, each section only if the time budget allows it:

1. the environment: torch, CUDA, the device and the optional packages;
2. cross-checks: gsplat, nerfacc, nvdiffrast and tinycudann against their torch fallbacks,
   on identical inputs (``gpu/crosschecks.py`` states the tolerances and why);
3. Stable Diffusion scale: the four ``-sd`` configs with SD 2.1-base's architecture and
   random weights (no download), timed: steps/s, seconds per step by section, peak GPU
   memory and the time of the whole job, prompt to GLB (``gpu/config_runs.py``);
4. the bundled prior on the GPU: the CPU configs, whole jobs;
5. the 12-prompt ground-truth evaluation of ``configs/dreamgaussian-fast.yaml``.

It writes ``GPU.md`` and ``gpu.json`` into ``--output-dir`` (default ``benchmarks/``; with
``--smoke``, a temporary folder). It installs nothing: ``docs/gpu.md`` lists the wheels to
carry. ``--smoke`` runs every section at tiny sizes on whatever device there is (CI runs it
on a CPU), skipping the CUDA-only comparisons with the reason.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))

PACKAGES = ("torch", "diffusers", "transformers", "nerfacc", "gsplat", "tinycudann", "nvdiffrast", "trimesh",
            "xatlas", "pymeshlab", "imageio-ffmpeg", "omegaconf")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks/gpu_check.py", description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=None, help="where GPU.md and gpu.json go")
    parser.add_argument("--budget-seconds", type=float, default=500.0,
                        help="start no new section after this long (default 500: one 9-minute device call)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on any device; checks that the check runs")
    parser.add_argument("--scratch", type=Path, default=None, help="folder for runs (default: a temporary one)")
    return parser.parse_args(argv)


def prepare_jit_builds() -> None:
    """Build gsplat's and nerfacc's CUDA code for this GPU only, on every core (first use compiles)."""
    import torch

    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", f"{major}.{minor}")
        os.environ.setdefault("MAX_JOBS", str(os.cpu_count() or 4))


def environment() -> dict:
    import torch

    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = "missing"
    cuda = torch.cuda.is_available()
    return {
        "torch": torch.__version__, "cuda": torch.version.cuda if cuda else "none",
        "device_name": torch.cuda.get_device_name(0) if cuda else "CPU",
        "gpu_memory_gb": torch.cuda.get_device_properties(0).total_memory / 2**30 if cuda else None,
        "cpu_count": os.cpu_count(), "python": sys.version.split()[0], "packages": packages,
    }


class Budget:
    """Seconds left of the check's budget; a section starts only if its estimate fits."""

    def __init__(self, seconds: float):
        self.start, self.seconds = time.perf_counter(), seconds

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def allows(self, estimate: float) -> bool:
        return self.elapsed() + estimate <= self.seconds


def run_section_runs(runs, scratch: Path, prior: str | None, budget: Budget, estimate: float, skipped: list[str]) -> dict:
    from gpu.config_runs import combine_groups, run_timed

    rows = []
    for spec in runs:
        if not budget.allows(estimate):
            skipped.append(f"{spec.label} (budget)")
            continue
        print(f"[gpu_check] {spec.label}", flush=True)
        rows.append(run_timed(REPO, spec, scratch / spec.label.replace(" ", "_").replace("(", "").replace(")", ""), prior))
    return {"runs": rows, "groups": combine_groups(rows)}


def run_eval(scratch: Path, budget: Budget) -> dict:
    """The 12-prompt evaluation of the DreamGaussian CPU config, stopped when the budget runs out."""
    remaining = max(budget.seconds - budget.elapsed(), 1.0)
    out = scratch / "eval-dreamgaussian"
    cmd = [sys.executable, "-m", "dream3d.eval", "--batch", "configs/prompts/eval-12.txt",
           "--config", "configs/dreamgaussian-fast.yaml", "--output-dir", str(out), "trainer.video=false"]
    try:
        subprocess.run(cmd, cwd=REPO, timeout=remaining, capture_output=True, text=True, check=False)
    except subprocess.TimeoutExpired:
        return {"summary": f"stopped by the time budget after {remaining:.0f} s", "complete": False}
    eval_md = out / "eval.md"
    return {"summary": eval_md.read_text() if eval_md.is_file() else "no eval.md written", "complete": eval_md.is_file()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    prepare_jit_builds()
    import torch
    from gpu.config_runs import write_sphere_mesh
    from gpu.crosschecks import run_crosschecks
    from gpu.plans import bundled_runs, sd_scale_runs
    from gpu.report import write_report
    from gpu.sd_prior import write_random_sd_prior

    budget = Budget(args.budget_seconds)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    smoke = args.smoke
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="dream3d-gpu-check-"))
    scratch.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DREAM3D_CACHE_DIR", str(scratch / "cache"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out_dir = args.output_dir or (scratch / "report" if smoke else BENCH)
    skipped: list[str] = []
    report: dict = {"smoke": smoke, "environment": environment(), "skipped_sections": skipped}
    print(f"[gpu_check] {report['environment']['device_name']}; scratch {scratch}", flush=True)

    report["crosschecks"] = run_crosschecks(device, smoke)
    mesh = write_sphere_mesh(scratch / "sphere.obj")
    sd_estimate, bundled_estimate = (5.0, 5.0) if smoke else (60.0, 60.0)
    if budget.allows(sd_estimate):
        prior_dir = scratch / ("sd21-base-smoke" if smoke else "sd21-base-random")
        start = time.perf_counter()
        dtype = torch.float16 if device.type == "cuda" else torch.float32
        counts = write_random_sd_prior(prior_dir, "smoke" if smoke else "sd21-base", device, dtype)
        sd = run_section_runs(sd_scale_runs(mesh, smoke), scratch / "sd", str(prior_dir), budget, sd_estimate, skipped)
        sd["parameters"] = ", ".join(f"{k} {v / 1e6:.1f} M" for k, v in counts.items())
        sd["build_seconds"] = time.perf_counter() - start
        report["sd_scale"] = sd
    else:
        skipped.append("Stable-Diffusion-scale configs (budget)")
    report["bundled"] = run_section_runs(bundled_runs(mesh, smoke), scratch / "bundled", None, budget,
                                         bundled_estimate, skipped)
    if smoke:
        skipped.append("12-prompt evaluation (not in --smoke)")
    elif budget.allows(240.0):
        report["eval"] = run_eval(scratch, budget)
    else:
        skipped.append("12-prompt evaluation (budget)")
    report["total_seconds"] = budget.elapsed()
    md, js = write_report(report, out_dir)
    print(f"[gpu_check] wrote {md} and {js}", flush=True)
    failed = [name for name, c in report["crosschecks"].items() if c["status"] == "failed"]
    failed += [r["label"] for part in ("sd_scale", "bundled") for r in report.get(part, {}).get("runs", []) if r["status"] != "ok"]
    if failed:
        print("[gpu_check] failed: " + "; ".join(failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
