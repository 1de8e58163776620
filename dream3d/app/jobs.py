"""One run at a time: a queue of jobs, each a ``launch.py`` child process.

A job is the command line itself (``python -m dream3d ARGS``, the same code path as
``launch.py``), so a run from the app and one from a shell are the same run. The child
reports its progress through ``DREAM3D_PROGRESS_FILE`` (``dream3d.loggers.ProgressFile``)
and writes its output and errors to a log file; its exit code says how it ended
(``dream3d.exit_codes``). Stop sends the child SIGINT, which is exactly Ctrl-C: it finishes
the step, writes ``ckpts/last.ckpt`` and exits with 130.
"""
from __future__ import annotations

import enum
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dream3d.exit_codes import EXIT_INTERRUPTED, EXIT_OK
from dream3d.loggers import PROGRESS_ENV

DREAM3D = (sys.executable, "-m", "dream3d")
"""The command line (``launch.py``) as a module."""


class JobState(str, enum.Enum):
    """Where a job is."""

    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"
    CANCELLED = "cancelled"


ENDED = (JobState.DONE, JobState.STOPPED, JobState.FAILED, JobState.CANCELLED)


@dataclass
class Job:
    """One run (or resumption) of ``launch.py``."""

    id: int
    run_dir: Path
    argv: list[str]
    label: str
    """What the page calls it (the prompt)."""
    folder: Path
    """The app's files of this job: ``progress.json`` and ``log.txt``."""
    resume: bool = False
    state: JobState = JobState.QUEUED
    exit_code: int | None = None
    message: str = ""
    """How it ended, for the page (the command line's error message on failure)."""
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def progress_file(self) -> Path:
        return self.folder / "progress.json"

    @property
    def log_file(self) -> Path:
        return self.folder / "log.txt"


def error_message(log: str, exit_code: int) -> str:
    """The command line's own message (from the last ``error: `` on), else a one-line summary.

    Never a traceback: for a crash, the exception's last line and where the full log is.
    """
    start = log.rfind("\nerror: ") + 1 if "\nerror: " in log else (0 if log.startswith("error: ") else -1)
    if start >= 0:
        return log[start + len("error: "):].strip()
    lines = [line.strip() for line in log.replace("\r", "\n").splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    if exit_code < 0:
        return f"The run was ended by signal {-exit_code}."
    return f"The run failed (exit code {exit_code}): {last}" if last else f"The run failed (exit code {exit_code})."


class RunQueue:
    """Runs jobs one after another in a worker thread; the rest wait in submission order.

    ``after_run(job)`` is called in the worker after a job ends (e.g. to score it), before the
    next one starts.
    """

    def __init__(self, state_dir: Path, command: Sequence[str] = DREAM3D,
                 after_run: Callable[[Job], None] | None = None, env: dict[str, str] | None = None):
        self.state_dir = Path(state_dir)
        self.command = list(command)
        self.after_run = after_run
        self.env = dict(os.environ if env is None else env)
        self.jobs: dict[int, Job] = {}
        self._waiting: list[Job] = []
        self._running: Job | None = None
        self._ids = itertools.count(1)
        self._session = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{id(self):x}"  # never an earlier app's folders
        self._lock = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._work, name="dream3d-app-runs", daemon=True)
        self._worker.start()

    # ------------------------------------------------------------ the page's side
    def submit(self, run_dir: Path, argv: list[str], label: str, resume: bool = False) -> Job:
        with self._lock:
            job_id = next(self._ids)
            folder = self.state_dir / "jobs" / f"{self._session}-{job_id}"
            job = Job(job_id, Path(run_dir), list(argv), label, folder, resume)
            self.jobs[job_id] = job
            self._waiting.append(job)
            self._lock.notify_all()
            return job

    def stop(self, job_id: int) -> None:
        """A waiting job leaves the queue; a running one gets SIGINT (Ctrl-C), once."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return
            if job in self._waiting:
                self._waiting.remove(job)
                job.state, job.message, job.ended = JobState.CANCELLED, "Removed from the queue.", time.time()
            elif job.state is JobState.RUNNING and job.process is not None:
                job.state = JobState.STOPPING
                job.process.send_signal(signal.SIGINT)

    def position(self, job_id: int) -> int | None:
        """1 for the next to run, 2 after it, ...; None if the job is not waiting."""
        with self._lock:
            for index, job in enumerate(self._waiting):
                if job.id == job_id:
                    return index + 1
            return None

    def running(self) -> Job | None:
        return self._running

    def waiting(self) -> list[Job]:
        with self._lock:
            return list(self._waiting)

    def taken_run_dirs(self) -> set[Path]:
        """Run directories of jobs that have not ended (new runs must not reuse them)."""
        with self._lock:
            return {job.run_dir for job in self.jobs.values() if job.state not in ENDED}

    def latest_for(self, run_dir: Path) -> Job | None:
        """The newest job of ``run_dir``."""
        with self._lock:
            found = [job for job in self.jobs.values() if job.run_dir == Path(run_dir)]
        return max(found, key=lambda job: job.id) if found else None

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking jobs; a running child is stopped like Ctrl-C and waited for."""
        with self._lock:
            self._closed = True
            for job in list(self._waiting):
                self._waiting.remove(job)
                job.state = JobState.CANCELLED
            running = self._running
            self._lock.notify_all()
        if running is not None:
            self.stop(running.id)
        self._worker.join(timeout)

    # ------------------------------------------------------------ the worker's side
    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                job = self._waiting.pop(0)
                self._running = job
                job.state, job.started = JobState.RUNNING, time.time()
                try:
                    job.folder.mkdir(parents=True, exist_ok=True)
                    job.process = self._start(job)
                except OSError as error:
                    job.state, job.message, job.ended = JobState.FAILED, f"Could not start the run: {error}", time.time()
                    self._running = None
                    continue
            self._finish(job, job.process.wait())

    def _start(self, job: Job) -> subprocess.Popen:
        env = dict(self.env, **{PROGRESS_ENV: str(job.progress_file), "PYTHONUNBUFFERED": "1"})
        with open(job.log_file, "wb") as log:
            # its own session: a Ctrl-C in the app's terminal reaches the app only, which then stops the
            # child once (a second SIGINT would abort it without a checkpoint)
            return subprocess.Popen([*self.command, *job.argv], stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env, start_new_session=True)

    def _finish(self, job: Job, code: int) -> None:
        job.exit_code = code
        try:
            log = job.log_file.read_text(errors="replace")
        except OSError:
            log = ""
        if code == EXIT_OK:
            state, message = JobState.DONE, ""
        elif code in (EXIT_INTERRUPTED, -signal.SIGINT) or job.state is JobState.STOPPING:
            state, message = JobState.STOPPED, ""  # stopped while starting up also ends otherwise
        else:
            state, message = JobState.FAILED, error_message(log, code)
        if state is JobState.DONE and self.after_run is not None:
            try:
                self.after_run(job)
            except Exception as error:  # noqa: BLE001 - a scoring problem must not stop the queue
                job.message = f"(could not score the result: {error})"
        with self._lock:
            job.state, job.ended = state, time.time()
            job.message = message or job.message
            job.process = None
            self._running = None
            self._lock.notify_all()
