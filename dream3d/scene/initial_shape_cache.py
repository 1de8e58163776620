"""The initial-shape fit, done once: its result is the same for every prompt.

The fit (``initial_shape.fit_initial_shape``) is a function of the field's initial weights,
the fit's settings and the random-number state it starts from. All three go into the key,
so a cached fit is used only where a fresh one would give the same weights. The entry also
holds the random-number state the fit ends with, which is restored: a run that hits the
cache continues exactly as one that fitted, bit for bit.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from dream3d.atomic import atomic_path
from dream3d.cache_dir import cache_root
from dream3d.scene.initial_shape import InitialShapeConfig, fit_initial_shape

log = logging.getLogger(__name__)


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def fit_key(field: nn.Module, config: InitialShapeConfig) -> str:
    """A digest of the initial weights, the fit's settings, the RNG state and the device."""
    device = next(field.parameters()).device
    digest = hashlib.sha256(repr(sorted(asdict(config).items())).encode())
    digest.update(f"{device.type}|{torch.__version__}".encode())
    for name, tensor in field.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for tensor in _rng_state(device).values():
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:32]


def fit_initial_shape_cached(field: nn.Module, config: InitialShapeConfig, directory: Path | None = None) -> bool:
    """Fit ``field`` to the initial shape, or load the same fit from the cache; True on a hit."""
    if config.steps <= 0:
        return False
    device = next(field.parameters()).device
    path = (directory or cache_root() / "initial_shapes") / f"{fit_key(field, config)}.pt"
    if path.is_file():
        try:
            entry = torch.load(path, map_location=device, weights_only=True)
            field.load_state_dict(entry["field"])
            _set_rng_state({k: v.cpu() for k, v in entry["rng"].items()}, device)
            log.info("initial shape: loaded the fit from %s", path)
            return True
        except Exception:  # noqa: BLE001 - a damaged entry is refitted and rewritten
            log.warning("initial shape: the cached fit %s is unreadable; fitting again", path)
    fit_initial_shape(field, config)
    try:
        with atomic_path(path) as tmp:
            torch.save({"field": {k: v.detach().cpu() for k, v in field.state_dict().items()},
                        "rng": _rng_state(device)}, tmp)
    except OSError as error:  # a full or read-only cache costs only the time saved
        log.warning("initial shape: could not cache the fit (%s)", error)
    return False
