"""One attempt at one trial, in whichever process runs it (the driver, a local worker
process or a Ray worker). It goes through the same code path as ``launch.py``:
``load_config`` on the trial's ``config.yaml``, then ``dream3d.service.train``.

Imports of torch and the rest of dream3d happen inside the functions, so a spawned
worker can limit its thread count before torch starts its thread pools.
"""
from __future__ import annotations

import os
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict

from dream3d.sweep.results import TrialResult, output_paths, read_metrics, trial_scores, write_record

INTERRUPTED = "interrupted (run the sweep again to re-run this trial)"
"""The error of a trial stopped by Ctrl-C; executors stop scheduling when they see it."""


@dataclass
class TrialTask:
    """Everything a worker needs to run a trial: plain data, pickled to other processes."""

    trial: str
    """Trial id."""
    overrides: Dict[str, Any]
    """What the trial varies (copied into its result row)."""
    config_yaml: str
    """The resolved run config, written to ``<run_dir>/config.yaml``."""
    run_dir: str
    """Absolute path of the trial's run directory."""
    sweep_dir: str
    """Absolute path of the sweep directory (result paths are relative to it)."""
    cwd: str = ""
    """The driver's working directory: relative paths in the config mean the same everywhere."""
    threads: int = 0
    """Torch / OpenMP threads for this trial (0: leave as they are)."""


def limit_threads(threads: int) -> None:
    """Use at most ``threads`` CPU threads in this process (torch, OpenMP, MKL)."""
    if threads <= 0:
        return
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def run_trial(task: TrialTask) -> TrialResult:
    """Train one trial from scratch in its run directory and return its row.

    A leftover directory of an unfinished or failed attempt is removed first. Errors do
    not propagate: they are the row's ``error`` (traceback in ``error.txt``). A finished
    row is also written to ``<run_dir>/trial.json``, which resuming the sweep reads.
    """
    from dream3d.allocator import keep_freed_memory
    from dream3d.atomic import write_text
    from dream3d.exit_codes import EXIT_INTERRUPTED
    from dream3d.methods import load_config
    from dream3d.service import train

    limit_threads(task.threads)
    keep_freed_memory()  # a Ray worker is not a child of the launching process
    if task.cwd and Path(task.cwd).is_dir():
        os.chdir(task.cwd)
    start = time.perf_counter()
    run_dir, sweep_dir = Path(task.run_dir), Path(task.sweep_dir)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    write_text(run_dir / "config.yaml", task.config_yaml)
    result = TrialResult(task.trial, dict(task.overrides), status="failed")
    config = None
    try:
        config = load_config(run_dir / "config.yaml")
        code = train(config, run_dir, resume=False)
        if code == EXIT_INTERRUPTED:
            result.error = INTERRUPTED
        elif code != 0:
            result.error = f"the run exited with code {code}"
        else:
            result.status = "ok"
    except Exception as error:  # noqa: BLE001 - any failure of a trial is recorded, not raised
        result.error = _first_line(error)
        write_text(run_dir / "error.txt", traceback.format_exc())
    result.wall_seconds = time.perf_counter() - start
    result.steps_per_second = read_metrics(run_dir).get("steps_per_second")
    for key, value in output_paths(run_dir, sweep_dir).items():
        setattr(result, key, value)
    if result.status == "ok":
        result.scores = trial_scores(run_dir, config)
    write_record(run_dir, result)
    return result


def run_with_retries(task: TrialTask, retries: int) -> TrialResult:
    """``run_trial`` until it succeeds, at most ``1 + retries`` times (not after Ctrl-C)."""
    result = run_trial(task)
    for _ in range(retries):
        if result.status == "ok" or result.error == INTERRUPTED:
            break
        result = run_trial(task)
    return result
