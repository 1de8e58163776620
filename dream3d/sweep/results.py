"""One result row per trial: ``trial.json`` in each run directory, ``results.csv`` and
``results.json`` in the sweep directory, and the ground-truth scores of the bundled prior.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from dream3d.atomic import write_text

log = logging.getLogger(__name__)

TRIALS_DIR = "trials"
"""Run directories of the trials, inside the sweep directory."""
TRIAL_RECORD = "trial.json"
"""The row of a finished attempt, kept in its run directory (read back on resume)."""


@dataclass
class TrialResult:
    """The row of one trial. Paths are relative to the sweep directory ("" when absent)."""

    trial: str
    """Trial id, also the name of its run directory under ``trials/``."""
    overrides: Dict[str, Any]
    """The dotted config keys this trial sets (prompt, seed, grid and zip values)."""
    status: str = "pending"
    """``ok``, ``failed``, ``skipped`` (finished in an earlier run of the sweep) or ``pending``."""
    error: str = ""
    """Why a failed trial failed (the full traceback is in ``<run dir>/error.txt``)."""
    wall_seconds: Optional[float] = None
    """Wall time of the trial in its worker, prior loading and export included."""
    steps_per_second: Optional[float] = None
    """Training step rate, from ``metrics.json``."""
    preview: str = ""
    """The latest ``previews/step_*.png``."""
    video: str = ""
    """The turntable ``video.mp4``."""
    glb: str = ""
    """The exported ``mesh/model.glb``."""
    scores: Dict[str, Any] = field(default_factory=dict)
    """Ground-truth evaluation (bundled prior and an exported mesh only), see ``SCORE_FIELDS``."""


def output_paths(run_dir: Path, sweep_dir: Path) -> Dict[str, str]:
    """Relative paths of the latest preview, the video and the GLB of a run directory."""
    def rel(path: Path | None) -> str:
        return path.relative_to(sweep_dir).as_posix() if path is not None and path.is_file() else ""

    previews = sorted((run_dir / "previews").glob("step_*.png"))
    return {
        "preview": rel(previews[-1] if previews else None),
        "video": rel(run_dir / "video.mp4"),
        "glb": rel(run_dir / "mesh" / "model.glb"),
    }


def read_metrics(run_dir: Path) -> dict:
    """``metrics.json`` of a run, or ``{}``."""
    try:
        return json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}


def is_complete(metrics: dict) -> bool:
    """Whether ``metrics.json`` was written at the end of training (not at an interruption)."""
    return "wall_seconds" in metrics


# ---------------------------------------------------------------- ground-truth evaluation
SCORE_FIELDS = ("passed", "shape_correct", "colour_correct", "chamfer", "predicted_shape", "predicted_colour", "held_out")
"""The fields of ``dream3d.eval.EvalResult`` that become ``eval.*`` columns."""


def _evaluator():
    """``dream3d.eval.evaluate_run(run_dir, prompt) -> EvalResult``, or None without it."""
    try:
        from dream3d.eval import evaluate_run
    except Exception as error:  # noqa: BLE001 - no (or a broken) evaluator: no scores, trials go on
        log.debug("No ground-truth evaluation: %s", error)
        return None
    return evaluate_run


def uses_bundled_prior(config: Any) -> bool:
    """Whether a run config distils from the bundled prior (the one with ground truth)."""
    from dream3d.prior.source import BUNDLED_PRIOR, REPO_ROOT

    prior = getattr(getattr(config, "system", None), "prior", None)
    name = getattr(prior, "pretrained", None)
    if not name:
        return False
    candidates = {Path(name).expanduser().resolve(), (REPO_ROOT / name).resolve()}
    return name == BUNDLED_PRIOR or (REPO_ROOT / BUNDLED_PRIOR).resolve() in candidates


def trial_scores(run_dir: Path, config: Any) -> Dict[str, Any]:
    """Ground-truth scores of a finished trial with an exported mesh; ``{}`` without an
    evaluator, without a mesh, or with another prior than the bundled one."""
    has_mesh = any((run_dir / "mesh" / name).is_file() for name in ("model.glb", "model.obj"))
    evaluate_run = _evaluator() if has_mesh and uses_bundled_prior(config) else None
    if evaluate_run is None:
        return {}
    try:
        scores = evaluate_run(run_dir, config.system.prompt).to_dict()
    except Exception as error:  # noqa: BLE001 - a failed evaluation must not fail the trial
        log.warning("Evaluation of %s failed: %s", run_dir, error)
        return {}
    return {key: scores[key] for key in SCORE_FIELDS if key in scores}


# ---------------------------------------------------------------- records and tables
def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None (strict JSON, e.g. for browsers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_record(run_dir: Path, result: TrialResult) -> None:
    write_text(run_dir / TRIAL_RECORD, json.dumps(json_safe(asdict(result)), indent=2))


def read_record(run_dir: Path) -> Optional[TrialResult]:
    try:
        return TrialResult(**json.loads((run_dir / TRIAL_RECORD).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def flat_row(result: TrialResult) -> Dict[str, Any]:
    """One flat row: overrides by their dotted key, scores as ``eval.<name>``."""
    row: Dict[str, Any] = {"trial": result.trial, "status": result.status}
    row.update(result.overrides)
    row.update({"wall_seconds": result.wall_seconds, "steps_per_second": result.steps_per_second})
    row.update({f"eval.{name}": value for name, value in result.scores.items()})
    row.update({"error": result.error, "preview": result.preview, "video": result.video, "glb": result.glb})
    return row


def columns(rows: List[Dict[str, Any]]) -> List[str]:
    """Every key of ``rows``, in first-seen order."""
    seen: Dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def write_tables(sweep_dir: Path, results: List[TrialResult]) -> None:
    """``results.json`` (a list of rows with nested overrides and scores) and ``results.csv``."""
    write_text(sweep_dir / "results.json", json.dumps([json_safe(asdict(r)) for r in results], indent=2))
    rows = [flat_row(r) for r in results]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    write_text(sweep_dir / "results.csv", buffer.getvalue())
