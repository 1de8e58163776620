"""What the page's buttons do: start, stop and resume runs, and open one (no gradio here).

Every message a user can cause is returned as text for the page; nothing raises to gradio,
so a user never sees a traceback.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from dream3d.app.downloads import obj_bundle
from dream3d.app.jobs import ENDED, Job, RunQueue
from dream3d.app.make import MakeRequest, prepare
from dream3d.app.methods import MethodChoice
from dream3d.app.runs import RunRecord, read_run
from dream3d.app.score import Scores
from dream3d.app.score import describe as describe_score
from dream3d.app.watch import RunView, describe
from dream3d.service import USER_ERRORS

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    """The app's state shared by every page session."""

    queue: RunQueue
    choices: list[MethodChoice]
    outputs: Path
    """Where runs are written and the gallery looks."""
    state_dir: Path
    """The app's own files: job logs and progress, score cache, download bundles."""
    overrides: list[str]
    """Config overrides applied to every run (from the app's command line)."""
    scores: Scores

    def choice(self, name: str) -> MethodChoice | None:
        return next((c for c in self.choices if c.name == name), None)


def start(context: AppContext, request: MakeRequest) -> tuple[str, str]:
    """Check and queue a run: ``(run_dir, "")``, or ``("", message)`` if it was refused."""
    choice = context.choice(request.method)
    if choice is None:
        return "", f"Choose a method: {request.method!r} is not one of the shipped configs."
    try:
        prepared = prepare(request, choice, context.outputs, context.overrides, context.state_dir,
                           context.queue.taken_run_dirs())
    except USER_ERRORS as error:
        return "", str(error)
    except Exception as error:
        log.exception("Could not check the request")
        return "", f"Could not check this request: {type(error).__name__}: {error}"
    context.queue.submit(prepared.run_dir, prepared.argv, prepared.prompt)
    return str(prepared.run_dir), ""


def _active(job: Job | None) -> bool:
    return job is not None and job.state not in ENDED


def stop(context: AppContext, run_dir: str) -> str:
    """Stop the run (Ctrl-C: checkpoint, then exit), or take it out of the queue."""
    job = context.queue.latest_for(Path(run_dir)) if run_dir else None
    if not _active(job):
        return "This run is not running."
    context.queue.stop(job.id)
    return ""


def resume(context: AppContext, run_dir: str) -> str:
    """Queue ``launch.py --resume RUN_DIR`` for a stopped run; returns a message if it cannot."""
    record = read_run(Path(run_dir)) if run_dir else None
    if record is None:
        return "Choose a run first (make one, or open one from the gallery)."
    if _active(context.queue.latest_for(record.run_dir)):
        return "This run is already queued or running."
    if not record.stopped:
        return "Only a stopped run with a checkpoint can be resumed." if not record.finished else "This run is finished."
    context.queue.submit(record.run_dir, ["--resume", str(record.run_dir)], record.prompt, resume=True)
    return ""


@dataclass
class ResultFiles:
    """What the Result panel shows and offers for download."""

    video: str | None = None
    glb: str | None = None
    obj_zip: str | None = None
    score: str = ""


def result_files(context: AppContext, record: RunRecord | None, compute_score: bool = False) -> ResultFiles:
    """The result of a finished run; its score if already computed (or ``compute_score``)."""
    if record is None or not record.finished:
        return ResultFiles()
    scores = context.scores.score(record) if compute_score else context.scores.cached(record)
    bundle = obj_bundle(record, context.state_dir)
    return ResultFiles(str(record.video) if record.video else None, str(record.glb) if record.glb else None,
                       str(bundle) if bundle else None, describe_score(scores))


def view(context: AppContext, run_dir: str) -> tuple[RunView, ResultFiles]:
    """The Watch and Result panels of ``run_dir`` ("" shows nothing)."""
    if not run_dir:
        return RunView(""), ResultFiles()
    record = read_run(Path(run_dir))
    job = context.queue.latest_for(Path(run_dir))
    shown = describe(record, job, context.queue)
    return shown, result_files(context, shown.record)


def score_after_run(scores: Scores, job: Job) -> None:
    """The queue's ``after_run``: score a finished run with a ground truth, before the next run."""
    record = read_run(job.run_dir)
    if record is not None and record.finished:
        scores.score(record)
