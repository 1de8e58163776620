"""``RunLogger``: a sink for a run's step statistics and previews (TensorBoard, the app's
progress file; a plugin could add another). ``dream3d.loggers`` builds and calls them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass
class StepRecord:
    """What one logging step reports."""

    step: int
    """Steps done so far (the step just finished is ``step - 1``)."""
    max_steps: int
    loss: float
    """The total loss of the last step."""
    stats: dict[str, float] = field(default_factory=dict)
    """The step's statistics: the guidance's (timestep ``t``, its gradient norm), every
    weighted regulariser term, the mean opacity."""
    param_grad_norm: float = float("nan")
    """L2 norm of all optimised parameters' gradients of the last step."""
    seconds_per_step: dict[str, float] = field(default_factory=dict)
    """Wall seconds per step by section (render, prior, backward, ...), since the last record."""
    step_seconds: float = float("nan")
    """Wall seconds per step since the last record, previews included."""


class RunLogger(Protocol):
    """A sink for a run's statistics."""

    def log_step(self, record: StepRecord) -> None:
        """Called on each logging step."""
        ...

    def log_preview(self, step: int, image: np.ndarray) -> None:
        """Called with each preview grid ``[H,W,3]`` uint8."""
        ...

    def close(self) -> None:
        """Flush and release; called once when the training loop ends, however it ends."""
        ...
