"""Checkpoint files: ``ckpts/last.ckpt`` and the one before it, ``ckpts/prev.ckpt``.

Saving serialises the state in memory, writes it to a temporary file beside
``last.ckpt`` and only then, in two renames, makes the old ``last.ckpt`` the new
``prev.ckpt`` and the new file ``last.ckpt``: at every moment both names hold a complete
checkpoint. A checkpoint that cannot be read (a truncated copy, a damaged disk) raises
``CheckpointError``, which names it and offers ``prev.ckpt`` when that one is intact;
dream3d never falls back to it silently.
"""
from __future__ import annotations

import io
import logging
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import torch

from dream3d import atomic
from dream3d.config import ConfigError

log = logging.getLogger(__name__)

LAST = "last.ckpt"
PREV = "prev.ckpt"


class CheckpointError(ConfigError):
    """A checkpoint is missing, damaged or does not fit the run's config; the message says
    which file and what to do."""


def remove_stale_temporaries(path: Path) -> None:
    """Delete temporary files that an earlier, killed save left beside ``path``.

    Only call this while holding the run's lock (``dream3d.run_dir.run_lock``): the files
    could otherwise be another process's writes in progress.
    """
    for stale in path.parent.glob(f".{path.stem}.*{path.suffix}"):
        stale.unlink(missing_ok=True)


def _keep_as_previous(last: Path) -> None:
    """Make the current ``last`` also ``prev.ckpt`` (atomically; ``last`` stays in place)."""
    if not last.is_file() or not zipfile.is_zipfile(last):
        return  # nothing, or a damaged file: keep the older prev.ckpt
    prev = last.with_name(PREV)
    if prev.is_file() and os.path.samefile(last, prev):
        return  # already done by a save that was killed before its last rename
    staged = prev.with_name(f".{prev.stem}.rotating{prev.suffix}")
    staged.unlink(missing_ok=True)
    try:
        os.link(last, staged)  # no copy: the new name shares the file's data
    except OSError:
        shutil.copyfile(last, staged)  # filesystems without hard links
    os.replace(staged, prev)


def save_checkpoint(state: dict, path: Path) -> None:
    """Write ``state`` to ``path`` (``ckpts/last.ckpt``), keeping the old one as ``prev.ckpt``."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getbuffer()
    if path.parent.is_dir():
        remove_stale_temporaries(path)
        remove_stale_temporaries(path.with_name(PREV))
    with atomic.atomic_path(path, len(data)) as tmp:
        atomic.write_file(tmp, data, sync=True)
        _keep_as_previous(path)


def _read(path: Path, device: torch.device | str) -> dict:
    state = torch.load(path, map_location=device, weights_only=False)
    if not isinstance(state, dict) or "recipe" not in state or "rng" not in state:
        raise ValueError("not a dream3d checkpoint (no 'recipe' and 'rng' entries)")
    return state


def _summary(error: BaseException, limit: int = 200) -> str:
    """The error's type and first sentence, plus its first detail line (``size mismatch for ...``)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = lines[0].split(". ")[0].rstrip(".:") if lines else ""
    if len(lines) > 1 and "state_dict" in text:  # torch's "Error(s) in loading state_dict for X"
        text += f": {lines[1]}"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(error).__name__}: {text}".rstrip(": ")


def previous_offer(path: Path) -> str:
    """A sentence offering ``prev.ckpt`` beside ``path`` if it can be read, else ''."""
    prev = path.with_name(PREV)
    if path.name == PREV or not prev.is_file():
        return ""
    try:
        step = int(_read(prev, "cpu")["recipe"]["step"])
    except Exception:  # noqa: BLE001 - any failure means there is nothing to offer
        return ""
    return (f" The checkpoint before it, '{prev}' (step {step}), is intact: to continue from it, "
            f"run `cp {prev} {path}` and then the same command again.")


def load_checkpoint(path: Path, device: torch.device | str) -> dict[str, Any]:
    """The saved state of ``path``; raises ``CheckpointError`` if it is missing or damaged."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"There is no checkpoint '{path}'.{previous_offer(path)}")
    try:
        return _read(path, device)
    except Exception as error:  # noqa: BLE001 - torch, zipfile and pickle raise many kinds
        raise CheckpointError(f"The checkpoint '{path}' is damaged and cannot be read "
                              f"({_summary(error)}).{previous_offer(path)}") from None


def mismatch_error(path: Path, error: BaseException) -> CheckpointError:
    """The error for a checkpoint whose tensors do not fit the model built from the config."""
    return CheckpointError(
        f"The checkpoint '{path}' does not fit this run's config ({_summary(error)}). "
        "Overrides that change the model's sizes or stages cannot be applied to an existing run; "
        "pass only export.* or trainer.* overrides with --export and --resume, or start a new run."
    )
