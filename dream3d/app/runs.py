"""What a run directory holds, read from disk: its prompt, how far it got, and its files.

The app shows runs it started and runs found under ``outputs/`` the same way; both are
described by ``RunRecord`` (no model is loaded, nothing is written).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

PREVIEW = re.compile(r"step_(\d+)\.png$")


@dataclass
class RunRecord:
    """One run directory as found on disk."""

    run_dir: Path
    prompt: str
    method: str
    name: str
    """The config's name (``dreamfusion``, ``dreamgaussian``, ...)."""
    prior: str
    """``system.prior.pretrained``."""
    max_steps: int
    steps_done: int | None
    """Steps in ``metrics.json`` (written at the end and when stopped), else None."""
    finished: bool
    """Training and export ended (``metrics.json`` has the wall time)."""
    checkpoint: Path | None
    preview: Path | None
    """The newest preview grid."""
    video: Path | None
    glb: Path | None
    mesh_files: tuple[Path, ...]
    """``model.obj``, ``model.mtl`` and ``texture.png`` where present."""
    mesh_preview: Path | None

    @property
    def stopped(self) -> bool:
        """Stopped before the end, with a checkpoint to resume from."""
        return not self.finished and self.checkpoint is not None


def _file(path: Path) -> Path | None:
    return path if path.is_file() else None


def latest_preview(run_dir: Path) -> Path | None:
    """``previews/step_N.png`` with the largest N (None before the first)."""
    try:
        found = [(int(m.group(1)), p) for p in (Path(run_dir) / "previews").iterdir() if (m := PREVIEW.search(p.name))]
    except OSError:
        return None
    return max(found)[1] if found else None


def read_metrics(run_dir: Path) -> dict:
    try:
        return json.loads((Path(run_dir) / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}


def read_run(run_dir: Path) -> RunRecord | None:
    """The record of ``run_dir``, or None if it is not a run directory (no readable config.yaml)."""
    run_dir = Path(run_dir)
    try:
        config = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"))
    except Exception:  # noqa: BLE001 - a missing or unreadable config: not a run to show
        return None
    if not isinstance(config, dict):
        return None
    system, trainer = config.get("system") or {}, config.get("trainer") or {}
    metrics = read_metrics(run_dir)
    mesh = run_dir / "mesh"
    return RunRecord(
        run_dir=run_dir, prompt=str(system.get("prompt", "")), method=str(config.get("method", "")),
        name=str(config.get("name", "")), prior=str((system.get("prior") or {}).get("pretrained", "")),
        max_steps=int(trainer.get("max_steps", 0)), steps_done=metrics.get("steps"),
        finished="wall_seconds" in metrics, checkpoint=_file(run_dir / "ckpts" / "last.ckpt"),
        preview=latest_preview(run_dir), video=_file(run_dir / "video.mp4"), glb=_file(mesh / "model.glb"),
        mesh_files=tuple(p for p in (mesh / "model.obj", mesh / "model.mtl", mesh / "texture.png") if p.is_file()),
        mesh_preview=_file(mesh / "preview.png"),
    )


def find_runs(outputs: Path, limit: int = 60) -> list[RunRecord]:
    """Run directories under ``outputs`` (sweep trials included), newest first.

    Hidden folders (the app's own ``.app``) are skipped.
    """
    outputs = Path(outputs)
    configs = [p for depth in ("*/*", "*/*/*/*") for p in outputs.glob(f"{depth}/config.yaml")]
    configs = [p for p in configs if not any(part.startswith(".") for part in p.relative_to(outputs).parts)]
    configs.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    records = (read_run(p.parent) for p in configs[: limit * 2])
    return [r for r in records if r is not None][:limit]
