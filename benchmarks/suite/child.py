"""Run a command as a child process and measure its wall time and peak resident memory.

``os.wait4`` returns the child's own resource usage, so the peak RSS is that of the one
run (not of the benchmark process, nor of earlier children). Children start in their own
session; on a timeout or an interrupt their whole process group is stopped.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ChildRun:
    """How one child process ended."""

    returncode: int
    wall_seconds: float
    peak_rss_mb: float
    """Peak resident set size of the child (its largest descendant not included), MiB."""
    timed_out: bool
    log: Path
    cpu_seconds: float = 0.0
    """User + system CPU time of the child (its own threads), seconds."""
    """Its stdout and stderr, interleaved."""

    def tail(self, lines: int = 15) -> str:
        """The last lines of the child's output, for error messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


KILL_AFTER = 15.0
"""Seconds between SIGTERM (a training run checkpoints and stops) and SIGKILL."""


def _stop_group(pid: int, sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def run_child(argv: list[str], log: Path, cwd: Path | None = None, env: dict | None = None,
              timeout: float | None = None) -> ChildRun:
    """Run ``argv`` to completion (or ``timeout`` seconds), output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    timed_out = threading.Event()
    with open(log, "w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

        killer = threading.Timer(KILL_AFTER, _stop_group, (proc.pid, signal.SIGKILL))

        def expire() -> None:
            timed_out.set()
            _stop_group(proc.pid)
            killer.start()  # a batch of runs survives SIGTERM (each run stops, the next starts)

        timer = threading.Timer(timeout, expire) if timeout else None
        if timer:
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            _stop_group(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        finally:
            if timer:
                timer.cancel()
            killer.cancel()
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return ChildRun(proc.returncode, wall, usage.ru_maxrss / 1024.0, timed_out.is_set(), log,
                    usage.ru_utime + usage.ru_stime)
