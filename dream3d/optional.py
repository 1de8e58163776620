"""Every optional accelerated library is imported here, lazily, and nowhere else.

``import dream3d`` never needs CUDA, tinycudann, gsplat's CUDA extension or nvdiffrast.
Each ``*_available`` check is cheap; each ``require_*`` fails with a clear message only
when a user explicitly asks for a path that is missing.
"""
from __future__ import annotations

import importlib
import logging
from functools import lru_cache
from types import ModuleType

import torch

log = logging.getLogger(__name__)
_announced: set[str] = set()


class MissingAcceleratorError(RuntimeError):
    """A CUDA-only path was requested explicitly, but its library or a GPU is missing."""


def cuda_available() -> bool:
    return torch.cuda.is_available()


@lru_cache(maxsize=None)
def _try_import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - any import failure means "not usable here"
        return None


def tinycudann() -> ModuleType | None:
    """The tinycudann module when it imports and CUDA is present, else None."""
    return _try_import("tinycudann") if cuda_available() else None


def nvdiffrast_torch() -> ModuleType | None:
    """``nvdiffrast.torch`` when it imports and CUDA is present, else None."""
    return _try_import("nvdiffrast.torch") if cuda_available() else None


def gsplat_rasterization():
    """``gsplat.rasterization`` when CUDA is present, else None."""
    if not cuda_available():
        return None
    module = _try_import("gsplat")
    return None if module is None else module.rasterization


def nerfacc_occupancy_grid():
    """``nerfacc.OccGridEstimator`` when CUDA is present, else None."""
    if not cuda_available():
        return None
    module = _try_import("nerfacc")
    return None if module is None else module.OccGridEstimator


def pymeshlab() -> ModuleType | None:
    """``pymeshlab`` when installed (a ~100 MB wheel; mesh cleanup falls back to trimesh without it)."""
    return _try_import("pymeshlab")


def summary_writer() -> type | None:
    """``torch.utils.tensorboard.SummaryWriter`` when the ``tensorboard`` package is installed, else None."""
    module = _try_import("torch.utils.tensorboard")
    return None if module is None else module.SummaryWriter


def video_encoder_available() -> bool:
    """Whether imageio can write H.264 (``imageio-ffmpeg`` and its bundled ffmpeg binary)."""
    module = _try_import("imageio_ffmpeg")
    if module is None:
        return False
    try:
        return bool(module.get_ffmpeg_exe())
    except Exception:  # noqa: BLE001 - a missing or broken binary means "no video here"
        return False


def warn_once(key: str, message: str) -> None:
    """Log ``message`` as a warning the first time ``key`` is seen in this process."""
    if key not in _announced:
        _announced.add(key)
        log.warning(message)


def require(module: ModuleType | None, what: str, install: str) -> ModuleType:
    """Return ``module`` or raise a clear error naming what is missing and how to get it."""
    if module is None:
        raise MissingAcceleratorError(f"{what} needs CUDA and {install}; set it to 'auto' or 'torch' to use the CPU path.")
    return module



def announce_backend(part: str, backend: str) -> None:
    """Log the chosen backend of a part once per process."""
    key = f"{part}:{backend}"
    if key not in _announced:
        _announced.add(key)
        log.info("%s: using the %s backend", part, backend)
