"""Where trials run: ``local`` (in this process, or N spawned worker processes) or ``ray``.

Each executor calls ``on_result`` in the driver as each trial finishes, in completion
order. The Ray executor assumes every node sees the sweep directory at the same path
(a shared filesystem) and has the same dream3d environment installed.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Callable, List, Optional

from dream3d.config import ConfigError
from dream3d.sweep.results import TrialResult
from dream3d.sweep.spec import ResourcesConfig
from dream3d.sweep.worker import INTERRUPTED, TrialTask, limit_threads, run_trial, run_with_retries

log = logging.getLogger(__name__)

OnResult = Callable[[TrialResult], None]


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _failed(task: TrialTask, error: str) -> TrialResult:
    return TrialResult(task.trial, dict(task.overrides), status="failed", error=error)


# ---------------------------------------------------------------- local
def run_local(tasks: List[TrialTask], parallel: int, retries: int, on_result: OnResult) -> bool:
    """Run ``tasks`` here (``parallel == 1``) or in ``parallel`` spawned processes, each
    with ``cores // parallel`` threads. Returns False if stopped by Ctrl-C."""
    if parallel <= 1:
        for task in tasks:
            result = run_with_retries(task, retries)
            on_result(result)
            if result.error == INTERRUPTED:
                return False
        return True
    threads = max(1, available_cores() // parallel)
    tasks = [replace(task, threads=threads) for task in tasks]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(parallel, mp_context=context, initializer=limit_threads, initargs=(threads,)) as pool:
        pending = {pool.submit(run_with_retries, task, retries): task for task in tasks}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task = pending.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool as error:
                        result = _failed(task, f"the worker process died: {error}")
                    on_result(result)
        except KeyboardInterrupt:
            for future in pending:
                future.cancel()
            return False
    return True


# ---------------------------------------------------------------- Ray
class TrialFailed(Exception):
    """Raised in a Ray task so that Ray retries the trial; carries its failed row."""

    def __init__(self, result: TrialResult):
        super().__init__(result)
        self.result = result

    def __str__(self) -> str:
        return self.result.error


def _ray_trial(task: TrialTask) -> TrialResult:
    """The body of a Ray task: one attempt; a failure raises so that Ray retries it."""
    result = run_trial(task)
    if result.status != "ok":
        raise TrialFailed(result)
    return result


def import_ray():
    """The ``ray`` module, or a ``ConfigError`` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--executor ray needs Ray, which is not installed. Install the extra: "
            "pip install -e .[distributed]  (or: pip install \"ray[default]\")."
        ) from None
    return ray


def connect_ray(address: Optional[str]) -> bool:
    """Join a Ray cluster: ``address``, else $RAY_ADDRESS, else a running local cluster
    ("auto"), else start a local instance. Returns True if this call started Ray."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    try:
        if address:
            ray.init(address=address)
        else:
            try:
                ray.init(address="auto")
            except ConnectionError:
                log.info("No running Ray cluster found; starting a local Ray instance.")
                ray.init(include_dashboard=False)
    except ConnectionError as error:
        raise ConfigError(f"Could not connect to the Ray cluster at '{address}': {error}") from None
    return True


def _last_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[-1] if lines else type(error).__name__


def run_ray(tasks: List[TrialTask], resources: ResourcesConfig, retries: int, address: Optional[str],
            on_result: OnResult) -> bool:
    """One Ray task per trial with ``resources``; Ray retries a failed trial ``retries`` times."""
    ray = import_ray()
    started = connect_ray(address)
    pending: dict = {}
    try:
        options = dict(num_cpus=resources.num_cpus, num_gpus=resources.num_gpus,
                       max_retries=retries, retry_exceptions=[TrialFailed])
        if resources.memory_gb > 0:
            options["memory"] = int(resources.memory_gb * 1024**3)
        threads = max(1, int(resources.num_cpus))
        remote = ray.remote(_ray_trial).options(**options)
        pending = {remote.remote(replace(task, threads=threads)): task for task in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as error:  # the trial failed every attempt, or its worker died
                    cause = getattr(error, "cause", None)
                    result = cause.result if isinstance(cause, TrialFailed) else _failed(task, _last_line(cause or error))
                on_result(result)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref)
        return False
    finally:
        if started:
            ray.shutdown()
    return True
