"""The training loop: progress bar, previews, checkpoints, resume, NaN guard, video, metrics.

A system supplies ``training_step(step) -> (loss, stats)``, ``after_step(step)``,
``modules()``, ``optimizers()``, ``render_views(cameras)`` and ``export(run_dir)``; the
trainer owns everything else. Ctrl-C (SIGINT) or SIGTERM finishes the current step,
writes ``ckpts/last.ckpt`` and stops; ``--resume`` continues bit-for-bit on CPU.
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

from dream3d.atomic import atomic_path, write_text
from dream3d.media import preview_grid, write_image, write_turntable
from dream3d.systems.common import SectionTimer

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The loss or a gradient became NaN/inf; the last good checkpoint is kept."""


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
    """Runs a system's steps from ``start_step`` to ``trainer.max_steps``."""

    def __init__(self, system, config, run_dir: Path):
        self.system = system
        self.config = config
        self.trainer_config = config.trainer
        self.run_dir = Path(run_dir)
        self.step = 0
        self.timer: SectionTimer = getattr(system, "timer", SectionTimer())

    # ------------------------------------------------------------ checkpoints
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "ckpts" / "last.ckpt"

    def save_checkpoint(self) -> None:
        state = {
            "step": self.step,
            "modules": {k: m.state_dict() for k, m in self.system.modules().items()},
            "optimizers": {k: o.state_dict() for k, o in self.system.optimizers().items()},
            "rng": rng_state(),
        }
        with atomic_path(self.checkpoint_path) as tmp:
            torch.save(state, tmp)

    def load_checkpoint(self, path: Path | None = None) -> None:
        state = torch.load(path or self.checkpoint_path, map_location=self.system.device, weights_only=False)
        for key, module in self.system.modules().items():
            module.load_state_dict(state["modules"][key])
        for key, optimizer in self.system.optimizers().items():
            optimizer.load_state_dict(state["optimizers"][key])
        restore_rng_state(state["rng"])
        self.step = int(state["step"])

    # ------------------------------------------------------------ loop
    def _check_finite(self, loss: torch.Tensor) -> None:
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"the loss became {float(loss.detach())} at step {self.step}")
        for optimizer in self.system.optimizers().values():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is not None and not torch.isfinite(p.grad).all():
                        raise TrainingDiverged(f"a gradient of '{group.get('name', '?')}' became NaN/inf at step {self.step}")

    def _write_preview(self) -> None:
        cfg = self.trainer_config
        grid = preview_grid(self.system, cfg.preview_views, cfg.preview_resolution, cfg.video_elevation)
        write_image(self.run_dir / "previews" / f"step_{self.step:06d}.png", grid)

    def fit(self) -> TrainResult:
        cfg = self.trainer_config
        optimizers = self.system.optimizers()
        start_step, start_time = self.step, time.perf_counter()
        last_loss = math.nan
        interrupted = False
        progress = tqdm(total=cfg.max_steps, initial=self.step, disable=not cfg.progress_bar, dynamic_ncols=True, desc="train")
        with StopRequest() as stop:
            while self.step < cfg.max_steps:
                for optimizer in optimizers.values():
                    optimizer.zero_grad(set_to_none=True)
                loss, stats = self.system.training_step(self.step)
                with self.timer.section("backward"):
                    loss.backward()
                self._check_finite(loss)
                with self.timer.section("optimizer"):
                    for optimizer in optimizers.values():
                        optimizer.step()
                self.system.after_step(self.step)
                self.step += 1
                last_loss = float(loss.detach())
                progress.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                    progress.set_postfix(loss=f"{last_loss:.4g}", **{k: f"{v:.3g}" for k, v in stats.items()})
                if cfg.preview_every and self.step % cfg.preview_every == 0:
                    self._write_preview()
                if stop.requested or self.step == cfg.pause_at_step:
                    interrupted = True
                    break
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.save_checkpoint()
        progress.close()
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
            write_turntable(self.system, self.run_dir / "video.mp4", cfg.video_frames, cfg.video_resolution, cfg.video_fps, cfg.video_elevation)
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
