"""TensorBoard logging of a run (``trainer.logger: tensorboard``): ``tensorboard --logdir outputs``.

Scalars: ``train/loss``; ``train/<name>`` for each statistic of the step (the guidance's
timestep ``t`` and gradient norm, each weighted regulariser term, the mean opacity, VSD's
LoRA loss); ``train/param_grad_norm``; ``time/<section>`` (seconds per step by section) and
``time/step_seconds``. Images: ``preview`` (each preview grid).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dream3d import optional
from dream3d.interfaces.run_logger import StepRecord


class TensorBoardLogger:
    """A ``torch.utils.tensorboard.SummaryWriter`` into ``log_dir``.

    A resumed run purges the events at or after its first step, so a step never appears twice.
    """

    def __init__(self, log_dir: Path, start_step: int = 0):
        writer_class = optional.summary_writer()
        if writer_class is None:
            raise ImportError("tensorboard is not installed (pip install tensorboard)")
        self.writer = writer_class(log_dir=str(log_dir), purge_step=start_step or None)

    def log_step(self, record: StepRecord) -> None:
        add = self.writer.add_scalar
        step = record.step
        add("train/loss", record.loss, step)
        for name, value in record.stats.items():
            add(f"train/{name}", value, step)
        if math.isfinite(record.param_grad_norm):
            add("train/param_grad_norm", record.param_grad_norm, step)
        for section, seconds in record.seconds_per_step.items():
            add(f"time/{section}", seconds, step)
        if math.isfinite(record.step_seconds):
            add("time/step_seconds", record.step_seconds, step)

    def log_preview(self, step: int, image: np.ndarray) -> None:
        self.writer.add_image("preview", image, step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()
