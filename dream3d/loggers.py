"""Where a run's step statistics go besides the progress bar: TensorBoard and a progress file.

The trainer opens ``RunLoggers`` for its loop and calls it on every logging step
(``trainer.log_every``, and the last step) and on every preview grid:

- ``trainer.logger: tensorboard`` adds ``dream3d.logging_tb.TensorBoardLogger``, which writes
  ``<run_dir>/tensorboard/`` (every loss term and statistic, the parameters' gradient norm,
  the timestep, seconds per step by section, the preview images);
- the environment variable ``DREAM3D_PROGRESS_FILE=PATH`` adds ``ProgressFile``: a small JSON
  file with the step, the loss and the ETA, replaced atomically at each logging step. The web
  app (``dream3d.app``) sets it for the runs it starts, to show their progress.

With neither, ``RunLoggers`` does nothing and costs nothing per step.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dream3d.atomic import write_text
from dream3d.config import ConfigError
from dream3d.interfaces.run_logger import RunLogger, StepRecord
from dream3d.timing import SectionTimer

PROGRESS_ENV = "DREAM3D_PROGRESS_FILE"
"""Environment variable: write a ``ProgressFile`` to this path."""
TENSORBOARD_DIR = "tensorboard"
"""TensorBoard's event files, inside the run directory."""


class ProgressFile:
    """``{"step", "max_steps", "loss", "steps_per_second", "eta_seconds", ...}`` as JSON at ``path``.

    The rate and ETA count this process's steps only (a resumed run starts afresh).
    """

    def __init__(self, path: Path, start_step: int, max_steps: int):
        self.path = Path(path)
        self.start_step = start_step
        self.start_time = time.perf_counter()
        self._write({"step": start_step, "max_steps": max_steps, "loss": None, "steps_per_second": None,
                     "eta_seconds": None, "stats": {}, "updated": time.time()})

    def _write(self, report: dict[str, Any]) -> None:
        write_text(self.path, json.dumps(report, default=float))

    def log_step(self, record: StepRecord) -> None:
        elapsed = time.perf_counter() - self.start_time
        done = record.step - self.start_step
        rate = done / elapsed if done > 0 and elapsed > 0 else None
        eta = (record.max_steps - record.step) / rate if rate else None
        self._write({"step": record.step, "max_steps": record.max_steps, "loss": record.loss,
                     "steps_per_second": rate, "eta_seconds": eta, "stats": record.stats, "updated": time.time()})

    def log_preview(self, step: int, image: np.ndarray) -> None:
        pass  # the preview itself is in the run directory

    def close(self) -> None:
        pass


def read_progress(path: Path) -> dict[str, Any] | None:
    """A ``ProgressFile``'s report, or None while there is none (or it cannot be read)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def check_logger(kind: str) -> None:
    """Refuse ``trainer.logger: tensorboard`` before any work when the package is missing."""
    from dream3d import optional

    if kind == "tensorboard" and optional.summary_writer() is None:
        raise ConfigError("trainer.logger=tensorboard needs the tensorboard package: "
                          "pip install tensorboard (or pip install -e \".[app]\"), or set trainer.logger=none.")


def parameter_grad_norm(optimizers: dict[str, torch.optim.Optimizer]) -> float:
    """L2 norm of the gradients of every parameter the optimizers hold."""
    norms = [p.grad.detach().float().norm() for optimizer in optimizers.values() for group in optimizer.param_groups
             for p in group["params"] if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0


class RunLoggers:
    """The loggers of one training loop; a context manager that closes them."""

    def __init__(self, loggers: list[RunLogger], timer: SectionTimer, start_step: int):
        self.loggers = loggers
        self.timer = timer
        self._totals = dict(timer.totals)
        self._step = start_step
        self._time = time.perf_counter()

    @classmethod
    def open(cls, trainer_config: Any, run_dir: Path, start_step: int, timer: SectionTimer) -> RunLoggers:
        """The loggers that ``trainer.logger`` and ``DREAM3D_PROGRESS_FILE`` ask for."""
        loggers: list[RunLogger] = []
        if getattr(trainer_config, "logger", "none") == "tensorboard":
            from dream3d.logging_tb import TensorBoardLogger

            check_logger("tensorboard")
            loggers.append(TensorBoardLogger(Path(run_dir) / TENSORBOARD_DIR, start_step))
        progress = os.environ.get(PROGRESS_ENV)
        if progress:
            loggers.append(ProgressFile(Path(progress), start_step, trainer_config.max_steps))
        return cls(loggers, timer, start_step)

    def log_step(self, step: int, max_steps: int, loss: float, stats: dict[str, float],
                 optimizers: dict[str, torch.optim.Optimizer]) -> None:
        """Report ``step`` (call after the optimizers stepped: gradients are still in place)."""
        if not self.loggers:
            return
        steps = max(step - self._step, 1)
        totals = dict(self.timer.totals)
        sections = {k: (v - self._totals.get(k, 0.0)) / steps for k, v in totals.items()}
        now = time.perf_counter()
        record = StepRecord(step, max_steps, loss, {k: float(v) for k, v in stats.items()},
                            parameter_grad_norm(optimizers), sections, (now - self._time) / steps)
        self._totals, self._step, self._time = totals, step, now
        for logger in self.loggers:
            logger.log_step(record)

    def log_preview(self, step: int, image: np.ndarray) -> None:
        for logger in self.loggers:
            logger.log_preview(step, image)

    def __enter__(self) -> RunLoggers:
        return self

    def __exit__(self, *exc: object) -> None:
        for logger in self.loggers:
            logger.close()
