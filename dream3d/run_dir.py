"""The run directory as a resource: one process at a time, and no silent overwrite.

``run_lock`` holds an exclusive ``flock`` on ``<run_dir>/.dream3d.lock`` while a run trains,
resumes or exports: a second process that asks for the same directory is refused at once.
The kernel releases the lock when its process ends, however it ends (``kill -9``
included), so a lock file left behind never blocks a later run.

``check_new_run`` refuses a directory that already holds a run's outputs unless the user
asked to overwrite it; ``clear_run`` then removes those outputs (and only those).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from dream3d.config import ConfigError

LOCK_NAME = ".dream3d.lock"
RUN_OUTPUTS = ("ckpts", "previews", "video.mp4", "mesh", "metrics.json")
"""What a run that has begun training leaves (``config.yaml`` alone does not count)."""
RUN_FILES = ("config.yaml", *RUN_OUTPUTS, "tensorboard", "trial.json", "error.txt")
"""Everything of a run that ``clear_run`` removes."""
TEMPORARY_PREFIXES = tuple(f".{Path(name).stem}." for name in RUN_FILES)
"""Hidden names of interrupted atomic writes and export staging folders (``.mesh.new-*``)."""


class RunDirInUse(ConfigError):
    """Another process holds the run directory's lock."""


def _holder(lock_file: Path) -> str:
    try:
        pid = lock_file.read_text().strip()
    except OSError:
        return ""
    return f" (process {pid})" if pid.isdigit() else ""


def _missing_ancestors(path: Path) -> list[Path]:
    """``path`` and its parents that do not exist yet, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[Path]:
    """Hold ``run_dir``'s lock (creating the folder); raises ``RunDirInUse`` if another process has it.

    Folders created here are removed again on exit if nothing but the lock was written.
    """
    run_dir = Path(run_dir)
    created = _missing_ancestors(run_dir.absolute())
    run_dir.mkdir(parents=True, exist_ok=True)
    lock_file = run_dir / LOCK_NAME
    handle = open(lock_file, "a+")  # noqa: SIM115 - held open for as long as the lock
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RunDirInUse(f"The run directory '{run_dir}' is in use by another dream3d run{_holder(lock_file)}. "
                          "Wait for it to finish, or choose another --output-dir.") from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield run_dir
    finally:
        if created and [p.name for p in run_dir.iterdir()] == [LOCK_NAME]:
            lock_file.unlink(missing_ok=True)
            for folder in created:  # deepest first; stops at the first that is not empty
                try:
                    folder.rmdir()
                except OSError:
                    break
        handle.close()  # releases the lock


def existing_outputs(run_dir: Path) -> list[str]:
    """The names of ``RUN_OUTPUTS`` present in ``run_dir``."""
    return [name for name in RUN_OUTPUTS if (Path(run_dir) / name).exists()]


def check_new_run(run_dir: Path, overwrite: bool) -> None:
    """Refuse to start a new run in a directory that holds one, unless ``overwrite``."""
    found = existing_outputs(run_dir)
    if found and not overwrite:
        raise ConfigError(
            f"The output directory '{run_dir}' already holds a run ({', '.join(found)}). Pass --overwrite to "
            f"replace it, continue it with --resume {run_dir}, or choose another --output-dir."
        )


def clear_run(run_dir: Path) -> None:
    """Remove a run's files from ``run_dir``; anything else in it is left alone."""
    for entry in Path(run_dir).iterdir():
        if entry.name in RUN_FILES or (entry.name != LOCK_NAME and entry.name.startswith(TEMPORARY_PREFIXES)):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
