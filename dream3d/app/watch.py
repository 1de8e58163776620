"""What the page shows about one run: status, progress, preview, result (plain data, no gradio).

``describe`` combines the run directory on disk (``RunRecord``), the app's job for it, if
any (``Job``), and the child's progress file into a ``RunView``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from dream3d.app.jobs import Job, JobState, RunQueue
from dream3d.app.runs import RunRecord, read_metrics
from dream3d.loggers import read_progress


@dataclass
class RunView:
    """Everything the Watch and Result panels show."""

    status: str
    error: bool = False
    fraction: float = 0.0
    progress_text: str = ""
    preview: Path | None = None
    record: RunRecord | None = None
    """Set once the run has a result to show (video, GLB, mesh files)."""
    can_stop: bool = False
    can_resume: bool = False


def duration(seconds: float | None) -> str:
    """``75`` -> ``"1 min 15 s"``; ``None`` -> ``""``."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def progress_line(report: dict) -> str:
    """``Step 12 of 40 · 3.1 steps/s · about 9 s left · loss 0.123``."""
    parts = [f"Step {report['step']} of {report['max_steps']}"]
    if report.get("steps_per_second"):
        parts.append(f"{report['steps_per_second']:.2f} steps/s")
    if report.get("eta_seconds") is not None and report["step"] < report["max_steps"]:
        eta = report["eta_seconds"]
        parts.append("under a second left" if eta < 1 else f"about {duration(eta)} left")
    if report.get("loss") is not None:
        parts.append(f"loss {report['loss']:.4g}")
    return " · ".join(parts)


def _finished(record: RunRecord) -> RunView:
    metrics = read_metrics(record.run_dir)
    rate = metrics.get("steps_per_second")
    speed = f" ({rate:.2f} steps/s)" if isinstance(rate, (int, float)) else ""
    status = f"Done: {record.steps_done} steps in {duration(metrics.get('wall_seconds'))}{speed}."
    return RunView(status, fraction=1.0, progress_text=f"Step {record.steps_done} of {record.max_steps}",
                   preview=record.preview, record=record)


def _stopped(record: RunRecord) -> RunView:
    step = record.steps_done
    at = f" at step {step} of {record.max_steps}" if step is not None else ""
    return RunView(f"Stopped{at}. The checkpoint is saved (ckpts/last.ckpt); Resume continues from there.",
                   fraction=(step or 0) / max(record.max_steps, 1),
                   progress_text=f"Step {step} of {record.max_steps}" if step is not None else "",
                   preview=record.preview, can_resume=True)


def _on_disk(record: RunRecord) -> RunView:
    if record.finished:
        return _finished(record)
    if record.stopped:
        return _stopped(record)
    return RunView("This run has no checkpoint and no result: it is running elsewhere, or it ended before its "
                   "first checkpoint.", preview=record.preview)


def _running(job: Job, record: RunRecord | None) -> RunView:
    report = read_progress(job.progress_file)
    preview = record.preview if record is not None else None
    if job.state is JobState.STOPPING:
        status = "Stopping after this step and writing a checkpoint…"
    elif job.exit_code == 0:
        status = "Scoring the result against the ground truth…"
    elif report is None:
        status = "Loading the checkpoint…" if job.resume else "Loading the prior and building the scene…"
    elif report["step"] >= report["max_steps"]:
        status = "Rendering the turntable and exporting the mesh…"
    else:
        status = "Training."
    view = RunView(status, preview=preview, can_stop=job.state is JobState.RUNNING)
    if report is not None:
        view.fraction = report["step"] / max(report["max_steps"], 1)
        view.progress_text = progress_line(report)
    return view


def describe(record: RunRecord | None, job: Job | None, queue: RunQueue) -> RunView:
    """The view of a run: from its job while the app runs it, else from its files."""
    if job is not None and job.state is JobState.QUEUED:
        position = queue.position(job.id)
        ahead = (position or 1) - 1 + (1 if queue.running() is not None else 0)
        return RunView(f"Queued: position {position} in the queue ({ahead} run{'s' if ahead != 1 else ''} ahead). "
                       "One run at a time; it starts by itself.", can_stop=True)
    if job is not None and job.state in (JobState.RUNNING, JobState.STOPPING):
        return _running(job, record)
    if job is not None and job.state is JobState.FAILED:
        view = _on_disk(record) if record is not None and record.stopped else RunView("")
        view.status, view.error = job.message, True
        return view
    if job is not None and job.state is JobState.CANCELLED:
        return RunView(job.message or "Removed from the queue.")
    if record is None:
        return RunView("")
    if job is not None and job.state is JobState.STOPPED and record.checkpoint is None:
        return RunView("Stopped before training began: there is no checkpoint to resume from.")
    return _on_disk(record)


def queue_summary(queue: RunQueue) -> str:
    """One line about the whole queue: what runs, how many wait."""
    running, waiting = queue.running(), queue.waiting()
    if running is None and not waiting:
        return "The queue is empty: a new run starts at once."
    parts = []
    if running is not None:
        report = read_progress(running.progress_file)
        where = f" ({progress_line(report)})" if report else ""
        parts.append(f"Running: {running.label!r}{where}.")
    if waiting:
        parts.append(f"Waiting: {len(waiting)}.")
    return " ".join(parts)
