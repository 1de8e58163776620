"""Prompt to textured GLB: ``launch.py`` end to end in a child process, per method.

Measures the child's wall time (Python start-up, imports, model load, text encoding with a
cold embedding cache, training, turntable video, mesh export), its peak RSS, and reads the
run's ``metrics.json`` for steps/s and the per-step time of each section (render, prior =
VAE encode + UNet, backward, optimizer, upkeep), given as shares of the mean step.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from suite.child import run_child
from suite.methods import METHODS

PROMPT = "a red cube"
"""A prompt the bundled prior saw in training (spec: held-out pairs are evaluated separately)."""

SECTIONS = ("render", "prior", "backward", "optimizer", "upkeep")
"""The trainer's per-step sections, in the order of a step."""

QUICK_OVERRIDES: dict[str, list[str]] = {
    "dreamfusion": ["trainer.max_steps=100", "trainer.preview_every=50", "trainer.checkpoint_every=50"],
    "prolificdreamer": ["trainer.max_steps=100", "system.texture_steps=25", "trainer.preview_every=50",
                        "trainer.checkpoint_every=50"],
    "dreamgaussian": ["trainer.max_steps=100", "system.refine_steps=10", "system.gaussians.position_lr_max_steps=90",
                      "system.gaussians.densify.refine_start_iter=20", "system.gaussians.densify.refine_stop_iter=60",
                      "system.gaussians.densify.refine_every=20", "trainer.preview_every=50", "trainer.checkpoint_every=50"],
    "texture": ["trainer.max_steps=60", "trainer.preview_every=30", "trainer.checkpoint_every=30"],
}
"""``--quick``: fewer steps (the configs' own step counts in full mode)."""

SMOKE_OVERRIDES = ["trainer.max_steps=4", "trainer.preview_every=2", "trainer.video_frames=4", "trainer.video_resolution=32",
                   "export.resolution=32", "export.texture_size=32"]
"""The smoke case: a few steps at tiny sizes with the tiny test prior."""

SMOKE_METHOD_OVERRIDES: dict[str, list[str]] = {
    "dreamfusion": ["system.camera.height=16", "system.camera.width=16"],
    "prolificdreamer": ["system.camera.height=16", "system.camera.width=16", "system.texture_steps=2"],
    "dreamgaussian": ["system.refine_steps=1"],
    "texture": ["system.texture.camera.height=16", "system.texture.camera.width=16"],
}


def input_mesh(directory: Path) -> Path:
    """A unit cube as an OBJ file, the geometry ``configs/texture.yaml`` textures."""
    import trimesh

    path = directory / "cube.obj"
    if not path.is_file():
        directory.mkdir(parents=True, exist_ok=True)
        trimesh.creation.box(extents=(1.0, 1.0, 1.0)).export(path)
    return path


def step_breakdown(metrics: dict) -> dict:
    """Seconds per step of each section and its share of the mean step.

    ``other`` is what no section timed: camera sampling, the NaN check, previews and
    checkpoints; ``export (mid-run)`` is a mesh extraction inside training (DreamGaussian's
    and ProlificDreamer's stage switch), spread over all steps.
    """
    steps = max(int(metrics.get("steps_this_run", metrics.get("steps", 0))), 1)
    step_seconds = metrics["train_seconds"] / steps
    by_section = dict(metrics.get("seconds_per_step_by_section", {}))
    seconds = {name: by_section.pop(name, 0.0) for name in SECTIONS}
    if "export" in by_section:
        seconds["export (mid-run)"] = by_section.pop("export")
    seconds.update(by_section)  # any section added later
    seconds["other"] = max(step_seconds - sum(seconds.values()), 0.0)
    shares = {name: value / step_seconds for name, value in seconds.items()} if step_seconds > 0 else {}
    return {"step_seconds": step_seconds, "seconds": seconds, "shares": shares}


def run_dir(scratch: Path, method: str) -> Path:
    """Where the end-to-end run of ``method`` writes its outputs inside a case's scratch folder."""
    return scratch / f"{method}-run"


def launch_argv(repo: Path, method: str, out_dir: Path, prior: str, mode: str, scratch: Path) -> list[str]:
    """The ``launch.py`` command of one benchmark run."""
    argv = [sys.executable, str(repo / "launch.py"), "--config", str(repo / METHODS[method]), "--prompt", PROMPT,
            "--output-dir", str(out_dir), "--overwrite", "--seed", "0", "--device", "cpu"]
    if method == "texture":
        argv += ["--mesh", str(input_mesh(scratch))]
    argv += [f"system.prior.pretrained={prior}", "trainer.progress_bar=false"]
    if mode == "quick":
        argv += QUICK_OVERRIDES[method]
    elif mode == "smoke":
        argv += SMOKE_OVERRIDES + SMOKE_METHOD_OVERRIDES[method]
    return argv


def run_method(repo: Path, method: str, prior: str, mode: str, scratch: Path, timeout: float | None = None) -> dict:
    """Run one method end to end; raises RuntimeError with the output's tail when it fails."""
    out = run_dir(scratch, method)
    env = dict(os.environ, DREAM3D_CACHE_DIR=str(scratch / "cache"), HF_HUB_OFFLINE="1")
    argv = launch_argv(repo, method, out, prior, mode, scratch)
    child = run_child(argv, scratch / f"{method}.log", cwd=repo, env=env, timeout=timeout)
    if child.returncode != 0:
        reason = "timed out" if child.timed_out else f"exit code {child.returncode}"
        raise RuntimeError(f"launch.py {reason} after {child.wall_seconds:.0f} s:\n{child.tail()}")
    metrics = json.loads((out / "metrics.json").read_text())
    glb = out / "mesh" / "model.glb"
    wall_inside = metrics.get("wall_seconds", 0.0)
    phases = {
        "startup (python, imports)": max(child.wall_seconds - wall_inside, 0.0),
        "load (prior, text, scene)": max(wall_inside - metrics["train_seconds"] - metrics.get("video_seconds", 0.0)
                                         - metrics.get("export_seconds", 0.0), 0.0),
        "train": metrics["train_seconds"],
        "video": metrics.get("video_seconds", 0.0),
        "export": metrics.get("export_seconds", 0.0),
    }
    return {
        "prompt": PROMPT,
        "overrides": [a for a in argv if "=" in a and not a.startswith("system.prior.pretrained")],
        "prompt_to_glb_seconds": child.wall_seconds,
        "cpu_seconds": child.cpu_seconds,
        "phases_seconds": phases,
        "steps": metrics.get("steps"),
        "steps_per_second": metrics.get("steps_per_second"),
        "peak_rss_mb": child.peak_rss_mb,
        "peak_rss_mb_in_run": metrics.get("peak_rss_mb"),
        "breakdown": step_breakdown(metrics),
        "num_faces": (metrics.get("export") or {}).get("num_faces"),
        "glb_bytes": glb.stat().st_size if glb.is_file() else None,
    }
