"""One training step of a ``RecipeRun`` as the trainer takes it, for tests that drive the engine."""
from __future__ import annotations

import torch

from dream3d.recipe import RecipeRun


def one_step(run: RecipeRun, step: int) -> tuple[dict, dict[str, torch.optim.Optimizer]]:
    """Loss, backward, the stage's optimizers, upkeep; the step's stats and the optimizers it stepped."""
    loss, stats = run.training_step(step)
    optimizers = run.optimizers(step)
    for optimizer in optimizers.values():
        optimizer.zero_grad()
    loss.backward()
    for optimizer in optimizers.values():
        optimizer.step()
    run.after_step(step)
    return stats, optimizers
