"""``launch.py --sweep``: expand, validate, skip what is done, run the rest, write the tables
and the gallery (rewritten after every trial, so they can be watched while the sweep runs).
"""
from __future__ import annotations

import argparse
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any, List, Tuple

from dream3d.atomic import write_text
from dream3d.config import ConfigError
from dream3d.exit_codes import EXIT_INTERRUPTED, EXIT_RUNTIME_ERROR
from dream3d.launch_args import flag_values
from dream3d.naming import slugify
from dream3d.sweep.executors import import_ray, run_local, run_ray
from dream3d.sweep.expand import Trial, expand_trials, resolve_trials
from dream3d.sweep.gallery import write_gallery
from dream3d.sweep.results import TRIALS_DIR, TrialResult, is_complete, read_metrics, read_record, write_tables
from dream3d.sweep.spec import SweepSpec, load_sweep, sweep_to_yaml
from dream3d.sweep.worker import TrialTask

log = logging.getLogger("dream3d")


def default_sweep_dir(spec: SweepSpec, config: Any) -> Path:
    """``<output_root>/sweeps/<sweep name slug>@<time>`` (a name is never a path: ``../x`` -> ``x``)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(config.output_root) / "sweeps" / f"{slugify(spec.name)}@{stamp}"


def finished_result(run_dir: Path, text: str) -> TrialResult | None:
    """The row of a trial finished by an earlier run of this sweep with the same config."""
    record = read_record(run_dir)
    config_file = run_dir / "config.yaml"
    if record is None or record.status != "ok" or not is_complete(read_metrics(run_dir)):
        return None
    if not config_file.is_file() or config_file.read_text() != text:
        return None
    record.status = "skipped"
    return record


def plan(trials: List[Trial], sweep_dir: Path) -> Tuple[List[TrialResult], List[TrialTask]]:
    """A row per trial (``skipped`` if already finished, else ``pending``) and the tasks to run."""
    results, tasks = [], []
    for trial in trials:
        run_dir = sweep_dir / TRIALS_DIR / trial.id
        done = finished_result(run_dir, trial.config_yaml)
        results.append(done or TrialResult(trial.id, dict(trial.overrides)))
        if done is None:
            tasks.append(TrialTask(trial.id, dict(trial.overrides), trial.config_yaml, str(run_dir), str(sweep_dir), os.getcwd()))
    return results, tasks


def run_sweep(spec: SweepSpec, trials: List[Trial], sweep_dir: Path, executor: str = "local",
              parallel: int = 1, ray_address: str | None = None) -> Tuple[List[TrialResult], bool]:
    """Run the unfinished trials; returns every row and False if stopped by Ctrl-C."""
    sweep_dir = sweep_dir.resolve()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    results, tasks = plan(trials, sweep_dir)
    position = {r.trial: i for i, r in enumerate(results)}
    finished = 0

    def publish() -> None:
        write_tables(sweep_dir, results)
        write_gallery(sweep_dir, spec.name, results)

    def on_result(result: TrialResult) -> None:
        nonlocal finished
        finished += 1
        results[position[result.trial]] = result
        publish()
        timing = f" in {result.wall_seconds:.1f} s" if result.wall_seconds is not None else ""
        log.info("[%d/%d] %s %s%s%s", finished, len(tasks), result.status, result.trial, timing,
                 f": {result.error}" if result.error else "")

    publish()
    skipped = len(results) - len(tasks)
    log.info("Sweep %s: %d trials (%d already finished) in %s", spec.name, len(results), skipped, sweep_dir)
    if executor == "ray":
        completed = run_ray(tasks, spec.resources, spec.retries, ray_address, on_result)
    else:
        completed = run_local(tasks, parallel, spec.retries, on_result)
    publish()
    return results, completed


def run_sweep_cli(args: argparse.Namespace) -> int:
    """Entry point of ``launch.py --config X --sweep S``: exit 0 if every trial is ok or
    skipped, 1 if any failed, 130 if interrupted, 2 (``ConfigError``) for a bad sweep."""
    if args.parallel < 1:
        raise ConfigError(f"--parallel must be at least 1, got {args.parallel}.")
    if args.executor == "ray":
        import_ray()
        if args.parallel > 1:
            log.warning("--parallel is ignored with --executor ray; Ray packs trials by the sweep's resources.")
    spec = load_sweep(args.sweep)
    trials = resolve_trials(expand_trials(spec), spec, args.sweep, args.config, args.overrides, flag_values(args))
    sweep_dir = Path(args.output_dir) if args.output_dir else default_sweep_dir(spec, trials[0].config)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    write_text(sweep_dir / "sweep.yaml", sweep_to_yaml(spec, {
        "base_config": str(args.config),
        "command_line_overrides": list(args.overrides),
        "trials": [{"id": t.id, "overrides": t.overrides} for t in trials],
    }))
    results, completed = run_sweep(spec, trials, sweep_dir, args.executor, args.parallel, args.ray_address)
    counts = {s: sum(r.status == s for r in results) for s in ("ok", "skipped", "failed", "pending")}
    log.info("Sweep %s: %s. Gallery: %s", spec.name, ", ".join(f"{n} {s}" for s, n in counts.items() if n),
             sweep_dir / "index.html")
    if not completed:
        return EXIT_INTERRUPTED
    return EXIT_RUNTIME_ERROR if counts["failed"] else 0
