"""Atomic file writes: write to a temporary name in the same directory, then rename.

A full disk (``ENOSPC``, or a quota: ``EDQUOT``) while writing raises ``DiskFullError``,
which names the file and the space it needed; the temporary file is removed and the
previous version of the file is left as it was.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
"""``errno`` values that mean the disk (or the user's quota) is full."""


def human_bytes(size: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def free_bytes(path: str | os.PathLike) -> int | None:
    """Free space on the disk holding ``path`` (or its nearest existing parent); None if unknown."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


class DiskFullError(OSError):
    """No space was left while writing ``path``; its previous version is intact."""

    def __init__(self, path: str | os.PathLike, needed: int | None = None, code: int = errno.ENOSPC):
        super().__init__(code, os.strerror(code), str(path))
        self.path = Path(path)
        self.needed = needed

    def __str__(self) -> str:
        need = f"it needs about {human_bytes(self.needed)}" if self.needed else "it did not fit"
        free = free_bytes(self.path.parent)
        space = f"; {human_bytes(free)} free there" if free is not None else ""
        return (f"no space left on the disk while writing '{self.path}' ({need}{space}). "
                "The previous version of the file is intact; free some space and run again.")


def disk_full_cause(error: BaseException) -> OSError | None:
    """The full-disk ``OSError`` behind ``error`` (itself or one it was raised from), if any."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in DISK_FULL_ERRNOS:
            return current
        current = current.__cause__ or current.__context__
    return None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, size_hint: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    The temporary name keeps the suffix, so libraries that pick a format from the file
    extension (imageio, trimesh) still work. ``size_hint`` (bytes) goes into the message of
    a ``DiskFullError``.
    """
    path = Path(path)
    tmp_path: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o644)  # mkstemp creates 0600; give files the usual mode
        os.replace(tmp_path, path)
    except Exception as error:
        cause = disk_full_cause(error)
        if cause is None or isinstance(error, DiskFullError):
            raise
        written = tmp_path.stat().st_size if tmp_path is not None and tmp_path.exists() else 0
        raise DiskFullError(path, size_hint or written or None, cause.errno or errno.ENOSPC) from error
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def write_file(path: Path, data: bytes | memoryview, sync: bool = False) -> None:
    """Write ``data`` to ``path`` (not atomically: give it an ``atomic_path``); ``sync`` waits
    until the data is on the disk."""
    with open(path, "wb") as handle:
        handle.write(data)
        if sync:
            handle.flush()
            os.fsync(handle.fileno())


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, len(data)) as tmp:
        write_file(tmp, data)
