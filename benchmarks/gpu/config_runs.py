"""Timed runs of shipped configs through the training service (``dream3d.service.train``).

A run is either the config's whole job (``full_steps == window``) or a timed window of its
first steps. For a window, the time of the whole job, prompt to GLB, is extrapolated as

    setup + full_steps x (train seconds / window steps) + export

where ``setup`` is everything before the first step (loading the prior, the prompt
embeddings, the initial shape). The per-step time includes the window's warm-up steps, so
the extrapolation is an upper bound. Video and previews are off: they are not part of
prompt to GLB. ProlificDreamer's two stages are timed as two windows (``--stage nerf``,
then ``--stage texture`` on a mesh) and added up.
"""
from __future__ import annotations

import json
import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch

log = logging.getLogger(__name__)

QUIET = ["trainer.video=false", "trainer.preview_every=0", "trainer.checkpoint_every=0", "trainer.progress_bar=false"]
"""Every timed run: no video, previews or intermediate checkpoints."""


@dataclass
class TimedRun:
    """One run of a shipped config."""

    label: str
    config: str
    """Path of the config, relative to the repository."""
    window: int | None
    """Steps this run trains (None: the config's own ``trainer.max_steps``, the whole job)."""
    full_steps: int | None
    """Steps of the config's real job, for the extrapolation (None: the config's own)."""
    overrides: list[str] = field(default_factory=list)
    group: str = ""
    """Runs of one group (a config timed in parts) are added up in the report."""



def _peak_gpu_mb() -> float | None:
    return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None


def run_timed(repo: Path, spec: TimedRun, run_dir: Path, prior: str | None) -> dict:
    """Train ``spec`` into ``run_dir`` and summarise its ``metrics.json``; errors are recorded, not raised."""
    from dream3d.methods import load_config
    from dream3d.service import train

    overrides = [*QUIET, *([] if spec.window is None else [f"trainer.max_steps={spec.window}"]), *spec.overrides]
    if prior is not None:
        overrides.append(f"system.prior.pretrained={prior}")
    out: dict = {"label": spec.label, "config": spec.config, "overrides": overrides, "group": spec.group or spec.label}
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    try:
        config = load_config(repo / spec.config, overrides)
        full_steps = spec.full_steps or config.trainer.max_steps
        out.update(window=config.trainer.max_steps, full_steps=full_steps)
        code = train(config, run_dir)
    except Exception as error:  # noqa: BLE001 - the report records it and the check goes on
        out.update(status="failed", error=f"{type(error).__name__}: {error}",
                   traceback=traceback.format_exc(limit=-6), seconds=time.perf_counter() - start)
        return out
    if code != 0:
        out.update(status="failed", error=f"exit code {code}", seconds=time.perf_counter() - start)
        return out
    metrics = json.loads((run_dir / "metrics.json").read_text())
    out.update(status="ok", **summarise(metrics, full_steps), peak_gpu_mb=_peak_gpu_mb(),
               glb=str(run_dir / "mesh" / "model.glb") if (run_dir / "mesh" / "model.glb").is_file() else None)
    return out


def summarise(metrics: dict, full_steps: int) -> dict:
    """Steps/s, seconds per step by section, setup and export seconds, and the extrapolated job time."""
    train_seconds = float(metrics["train_seconds"])
    export_seconds = float(metrics.get("export_seconds", 0.0))
    wall = float(metrics["wall_seconds"])
    setup = max(wall - train_seconds - export_seconds - float(metrics.get("video_seconds", 0.0)), 0.0)
    steps = max(int(metrics["steps_this_run"]), 1)
    per_step = train_seconds / steps
    return {
        "steps_per_second": steps / train_seconds if train_seconds > 0 else None,
        "seconds_per_step": per_step,
        "seconds_per_step_by_section": metrics.get("seconds_per_step_by_section", {}),
        "setup_seconds": setup,
        "train_seconds": train_seconds,
        "export_seconds": export_seconds,
        "wall_seconds": wall,
        "job_seconds": setup + full_steps * per_step + export_seconds,
        "job_is_extrapolated": steps < full_steps,
    }


def combine_groups(rows: list[dict]) -> dict[str, dict]:
    """Add up the job time of the runs of each group (failed runs make the group failed)."""
    groups: dict[str, dict] = {}
    for row in rows:
        group = groups.setdefault(row["group"], {"job_seconds": 0.0, "peak_gpu_mb": None, "status": "ok",
                                                  "extrapolated": False, "runs": []})
        group["runs"].append(row["label"])
        if row["status"] != "ok":
            group["status"] = "failed"
            continue
        group["job_seconds"] += row["job_seconds"]
        group["extrapolated"] |= row["job_is_extrapolated"]
        if row.get("peak_gpu_mb") is not None:
            group["peak_gpu_mb"] = max(group["peak_gpu_mb"] or 0.0, row["peak_gpu_mb"])
    return groups


def write_sphere_mesh(path: Path) -> Path:
    """A UV-less icosphere OBJ for the texture stage's input."""
    import trimesh

    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.creation.icosphere(subdivisions=4, radius=0.7).export(path)
    return path
