"""Training as a service: the one code path behind ``launch.py``, sweeps, eval and the app.

``train`` checks every input (``dream3d.preflight``) before any model loads, builds the
recipe, trains or resumes it, and writes the video, the mesh and the metrics.
``export_only`` re-exports a finished run. ``guarded`` runs either and turns the errors a
user can fix into one message and an exit code (``dream3d.exit_codes``).
"""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Callable

from dream3d.atomic import DiskFullError, disk_full_cause
from dream3d.checkpoint import LAST, CheckpointError, load_checkpoint, previous_offer
from dream3d.config import ConfigError, save_config
from dream3d.device import resolve_device
from dream3d.exit_codes import EXIT_INTERRUPTED, EXIT_RUNTIME_ERROR, EXIT_USER_ERROR
from dream3d.export.config import WRITING_OPTIONS, meshing_options_changed
from dream3d.export.types import ExportError
from dream3d.methods import build_recipe, load_config
from dream3d.optional import MissingAcceleratorError
from dream3d.preflight import check_run
from dream3d.prior.source import PriorLoadError
from dream3d.prior.vocabulary import OutOfVocabularyError
from dream3d.recipe.engine import RecipeRun
from dream3d.run_dir import check_new_run, clear_run, run_lock
from dream3d.trainer import Trainer, TrainingDiverged, seed_everything

log = logging.getLogger("dream3d")

USER_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError, PriorLoadError, OutOfVocabularyError, MissingAcceleratorError, ExportError, FileNotFoundError, ValueError,
    DiskFullError,
)
"""Errors that are the user's to fix: one message, exit code 2."""


def train(config, run_dir: Path, resume: bool = False, overwrite: bool = False) -> int:
    """Check, build, train (or continue), then video, export and metrics. Returns an exit code.

    The run directory is locked for the whole run (``dream3d.run_dir``). A new run refuses a
    directory that already holds one unless ``overwrite``, which clears it once the prior has
    loaded.
    """
    wall_start = time.perf_counter()
    run_dir = Path(run_dir)
    check_run(config, run_dir)
    with run_lock(run_dir):
        if not resume:
            check_new_run(run_dir, overwrite)
        return _train(config, run_dir, resume, overwrite, wall_start)


def _train(config, run_dir: Path, resume: bool, overwrite: bool, wall_start: float) -> int:
    checkpoint = run_dir / "ckpts" / LAST
    state = load_checkpoint(checkpoint, "cpu") if resume else None  # a damaged one is refused before the prior loads
    recipe = build_recipe(config)
    seed_everything(config.seed)
    device = resolve_device(config.device)
    run = RecipeRun(recipe, device)  # loads the prior: fails before any file is written
    if overwrite and not resume:
        clear_run(run_dir)
    if not resume:
        save_config(config, run_dir / "config.yaml")
    log.info("Run directory: %s", run_dir)
    trainer = Trainer(run, config, run_dir)
    if state is not None:
        trainer.restore(state, checkpoint)
        log.info("Resumed at step %d of %d", trainer.step, config.trainer.max_steps)
    result = trainer.fit()
    if result.interrupted:
        trainer.write_metrics(result.metrics)
        print(
            f"Stopped at step {result.final_step}; checkpoint saved to {trainer.checkpoint_path}.\n"
            f"Resume with: python launch.py --resume {run_dir}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    metrics = trainer.finish(result, wall_start)
    log.info("Done in %.1f s (%.2f steps/s). Outputs in %s", metrics["wall_seconds"], metrics["steps_per_second"], run_dir)
    return 0


def _run_dir_of(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"'{run_dir}' is not a run directory (no config.yaml in it).")
    return run_dir


def resume(run_dir: Path, overrides: list[str]) -> int:
    """Continue a run from ``ckpts/last.ckpt`` with its saved config."""
    run_dir = _run_dir_of(run_dir)
    last = run_dir / "ckpts" / LAST
    if not last.is_file():
        raise CheckpointError(f"'{run_dir}' has no checkpoint to resume from (ckpts/{LAST}).{previous_offer(last)}")
    return train(load_config(run_dir / "config.yaml", overrides), run_dir, resume=True)


def export_only(run_dir: Path, overrides: list[str]) -> int:
    """Re-export a run's mesh from its last checkpoint, with optional ``export.*`` overrides."""
    run_dir = _run_dir_of(run_dir)
    config = load_config(run_dir / "config.yaml", overrides)
    check_run(config, run_dir)
    meshing = meshing_options_changed(load_config(run_dir / "config.yaml", []).export, config.export) if overrides else []
    with run_lock(run_dir):
        checkpoint = run_dir / "ckpts" / LAST
        state = load_checkpoint(checkpoint, "cpu")
        run = RecipeRun(build_recipe(config), resolve_device(config.device), load_prior=False)
        Trainer(run, config, run_dir).restore(state, checkpoint)
        refuse_meshing_overrides(run, run_dir, meshing)
        summary = run.export(run_dir)
    log.info("Exported %s", summary)
    return 0


def refuse_meshing_overrides(run: RecipeRun, run_dir: Path, changed: list[str]) -> None:
    """A ``ConfigError`` when ``--export`` overrides options that make the mesh (``changed``) but
    the run's shown stage has fixed geometry (a texture stage: its mesh was made when it began)."""
    if not changed:
        return
    stage = run.shown_stage()
    if not getattr(run.representations[stage.name], "fixed_geometry", False):
        return
    names = ", ".join(f"export.{name}" for name in changed)
    kept = ", ".join(f"export.{name}" for name in sorted(WRITING_OPTIONS - {"progress", "chunk_size"}))
    raise ConfigError(
        f"{names} cannot change this run's mesh: its stage '{stage.name}' textures a mesh made when the stage "
        f"began, and --export writes that mesh as it is. Only {kept} apply here. To mesh with other settings, "
        f"train a new run with them: python launch.py --config {run_dir / 'config.yaml'} "
        + " ".join(f"export.{name}=..." for name in changed))


def guarded(action: Callable[[], int]) -> int:
    """Run ``action``; user errors and a full disk print one line (exit 2), divergence exit 1,
    Ctrl-C 130.

    ``DREAM3D_DEBUG=1`` lets every exception through with its traceback.
    """
    if os.environ.get("DREAM3D_DEBUG"):
        return action()
    try:
        return action()
    except TrainingDiverged as error:
        print(f"error: training diverged: {error}. {error.advice}", file=sys.stderr)
        return EXIT_RUNTIME_ERROR
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as error:
        full = disk_full_cause(error)
        if full is None:
            raise
        message = error if isinstance(error, DiskFullError) else DiskFullError(full.filename or "the run directory")
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
