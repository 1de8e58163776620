"""The training loop: progress bar, previews, checkpoints, resume, NaN guard, video, metrics.

It drives a ``dream3d.recipe.RecipeRun``: ``training_step(step) -> (loss, stats)``, the
optimizers of the stage at ``step``, ``after_step(step)``, ``state_dict()``,
``render_views(cameras)`` and ``export(run_dir)``; the trainer owns everything else, RNG
state included. Ctrl-C (SIGINT) or SIGTERM finishes the current step, writes
``ckpts/last.ckpt`` and stops; ``--resume`` continues bit-for-bit on a CPU. Step statistics and
previews also go to ``dream3d.loggers`` (TensorBoard, the web app's progress file).
"""
from __future__ import annotations

import json
import logging
import math
import random
import resource
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dream3d.atomic import write_text
from dream3d.checkpoint import LAST, load_checkpoint, mismatch_error, save_checkpoint
from dream3d.loggers import RunLoggers
from dream3d.media import preview_grid, write_image, write_turntable
from dream3d.recipe.engine import RecipeRun

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The loss or a gradient became NaN/inf; ``advice`` says what is kept and what to try."""

    def __init__(self, message: str, advice: str = ""):
        super().__init__(message)
        self.advice = advice


@dataclass
class TrainResult:
    """How a ``fit`` ended."""

    final_step: int
    interrupted: bool = False
    last_loss: float = math.nan
    metrics: dict = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def peak_rss_mb() -> float:
    """Peak resident set size of this process, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class StopRequest:
    """Turns SIGINT/SIGTERM into a flag checked between steps; a second Ctrl-C aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nStopping after this step and writing a checkpoint (Ctrl-C again to abort).", file=sys.stderr)

    def __enter__(self) -> "StopRequest":
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Trainer:
    """Runs a recipe's steps from ``start_step`` to ``trainer.max_steps``."""

    def __init__(self, system: RecipeRun, config, run_dir: Path):
        self.system = system
        self.config = config
        self.trainer_config = config.trainer
        self.run_dir = Path(run_dir)
        self.timer = system.timer

    @property
    def step(self) -> int:
        return self.system.step

    @step.setter
    def step(self, value: int) -> None:
        self.system.step = value

    # ------------------------------------------------------------ checkpoints
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "ckpts" / LAST

    def save_checkpoint(self) -> None:
        """``ckpts/last.ckpt``; the one it replaces becomes ``ckpts/prev.ckpt``."""
        save_checkpoint({"recipe": self.system.state_dict(), "rng": rng_state()}, self.checkpoint_path)

    def load_checkpoint(self, path: Path | None = None) -> None:
        """Restore the run from ``path`` (default ``ckpts/last.ckpt``); raises ``CheckpointError``."""
        path = path or self.checkpoint_path
        self.restore(load_checkpoint(path, "cpu"), path)

    def restore(self, state: dict, path: Path | None = None) -> None:
        """Restore a state read by ``dream3d.checkpoint.load_checkpoint`` from ``path``."""
        try:
            self.system.load_state_dict(state["recipe"])
        except (RuntimeError, KeyError, ValueError) as error:
            raise mismatch_error(path or self.checkpoint_path, error) from None
        restore_rng_state(state["rng"])

    # ------------------------------------------------------------ loop
    def _advice(self) -> str:
        kept = (f"The last good checkpoint is kept in {self.checkpoint_path}." if self.checkpoint_path.is_file()
                else "No checkpoint had been written yet.")
        return kept + " Try a lower learning rate or guidance scale."

    def _check_finite(self, loss: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"the loss became {float(loss.detach())} at step {self.step}", self._advice())
        for optimizer in optimizers.values():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is not None and not torch.isfinite(p.grad).all():
                        raise TrainingDiverged(f"a gradient of '{group.get('name', '?')}' became NaN/inf at step {self.step}",
                                               self._advice())

    def _write_preview(self) -> np.ndarray:
        cfg = self.trainer_config
        grid = preview_grid(self.system, cfg.preview_views, cfg.preview_resolution, cfg.video_elevation)
        write_image(self.run_dir / "previews" / f"step_{self.step:06d}.png", grid)
        return grid

    def fit(self) -> TrainResult:
        cfg = self.trainer_config
        start_step, start_time = self.step, time.perf_counter()
        last_loss = math.nan
        interrupted = False
        saved_at = start_step if start_step > 0 else -1  # a resumed run starts from a checkpoint of this step
        progress = tqdm(total=cfg.max_steps, initial=self.step, disable=not cfg.progress_bar, dynamic_ncols=True, desc="train")
        with StopRequest() as stop, RunLoggers.open(cfg, self.run_dir, self.step, self.timer) as loggers:
            while self.step < cfg.max_steps:
                step = self.step
                loss, stats = self.system.training_step(step)
                optimizers = self.system.optimizers(step)  # after the step: a stage may have just begun
                for optimizer in optimizers.values():
                    optimizer.zero_grad(set_to_none=True)
                with self.timer.section("backward"):
                    loss.backward()
                self._check_finite(loss, optimizers)
                with self.timer.section("optimizer"):
                    for optimizer in optimizers.values():
                        optimizer.step()
                self.system.after_step(step)
                self.step = step + 1
                last_loss = float(loss.detach())
                progress.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                    progress.set_postfix(loss=f"{last_loss:.4g}", **{k: f"{v:.3g}" for k, v in stats.items()})
                    loggers.log_step(self.step, cfg.max_steps, last_loss, stats, optimizers)
                if cfg.preview_every and self.step % cfg.preview_every == 0:
                    loggers.log_preview(self.step, self._write_preview())
                if stop.requested or self.step == cfg.pause_at_step:
                    interrupted = True
                    break
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.save_checkpoint()
                    saved_at = self.step
        progress.close()
        if saved_at != self.step:  # else ckpts/prev.ckpt would become a copy of last.ckpt
            self.save_checkpoint()
        steps_done = self.step - start_step
        elapsed = time.perf_counter() - start_time
        metrics = {
            "steps": self.step,
            "steps_this_run": steps_done,
            "train_seconds": elapsed,
            "steps_per_second": steps_done / elapsed if elapsed > 0 else 0.0,
            "last_loss": last_loss,
            "seconds_per_step_by_section": {k: v / max(steps_done, 1) for k, v in self.timer.totals.items()},
        }
        return TrainResult(self.step, interrupted, last_loss, metrics)

    # ------------------------------------------------------------ the end of a run
    def finish(self, result: TrainResult, wall_start: float) -> dict:
        """Turntable video, mesh export and ``metrics.json`` after training."""
        cfg = self.trainer_config
        metrics = dict(result.metrics)
        if cfg.preview_every and self.step % cfg.preview_every != 0:
            self._write_preview()  # the final state, unless the loop just wrote it
        if cfg.video:
            start = time.perf_counter()
            if write_turntable(self.system, self.run_dir / "video.mp4", cfg.video_frames, cfg.video_resolution,
                               cfg.video_fps, cfg.video_elevation, cfg.video_shading):
                metrics["video_seconds"] = time.perf_counter() - start
        if cfg.export:
            start = time.perf_counter()
            metrics["export"] = self.system.export(self.run_dir)
            metrics["export_seconds"] = time.perf_counter() - start
        metrics["wall_seconds"] = time.perf_counter() - wall_start
        metrics["peak_rss_mb"] = peak_rss_mb()
        self.write_metrics(metrics)
        return metrics

    def write_metrics(self, metrics: dict) -> None:
        write_text(self.run_dir / "metrics.json", json.dumps(metrics, indent=2, default=str))
