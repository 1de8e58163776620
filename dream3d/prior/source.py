"""Where a prior's weights come from: a local diffusers folder, the hub cache, or the hub.

Resolving a name touches no weights, so the command line can check a prompt against a
local prior's vocabulary before anything loads.
"""
from __future__ import annotations

import os
import re
import socket
from pathlib import Path

BUNDLED_PRIOR = "extern/priors/dream3d-shapes-v2"
"""The bundled prior, relative to the repository root (or the working directory)."""

REPO_ROOT = Path(__file__).resolve().parents[2]
HUB_HOST = ("huggingface.co", 443)


class PriorLoadError(RuntimeError):
    """A prior could not be loaded; the message says what was tried and what to do."""


def local_folder(name_or_path: str) -> Path | None:
    """The local diffusers folder that ``name_or_path`` names, if there is one."""
    candidates = [Path(name_or_path).expanduser()]
    if not Path(name_or_path).is_absolute():
        candidates.append(REPO_ROOT / name_or_path)
    for candidate in candidates:
        if (candidate / "model_index.json").is_file() or (candidate / "unet").is_dir():
            return candidate
    return None


def resolve_source(name_or_path: str) -> tuple[str, bool]:
    """Find a local folder for ``name_or_path`` or decide that the hub must be asked.

    Returns ``(source, local_files_only)``. Raises ``PriorLoadError`` within seconds when
    the name is neither a local folder, nor in the local hub cache, nor reachable.
    """
    folder = local_folder(name_or_path)
    if folder is not None:
        return str(folder), True
    tried = [str(Path(name_or_path).expanduser())]
    if not Path(name_or_path).is_absolute():
        tried.append(str(REPO_ROOT / name_or_path))
    looks_like_hub_id = re.fullmatch(r"[\w.-]+/[\w.-]+", name_or_path) is not None
    if not looks_like_hub_id:
        raise PriorLoadError(_not_found_message(name_or_path, tried))
    if _in_hub_cache(name_or_path):
        return name_or_path, True
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False") or not _hub_reachable():
        tried.append(f"the Hugging Face cache and hub ({HUB_HOST[0]} is unreachable or HF_HUB_OFFLINE is set)")
        raise PriorLoadError(_not_found_message(name_or_path, tried))
    return name_or_path, False


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "model_index.json")
        return isinstance(found, str)
    except Exception:  # noqa: BLE001 - a broken cache just means "not cached"
        return False


def _hub_reachable(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def _not_found_message(name: str, tried: list[str]) -> str:
    return (
        f"Diffusion prior '{name}' not found. Tried: {'; '.join(tried)}.\n"
        f"On a CPU, use the bundled prior: system.prior.pretrained={BUNDLED_PRIOR} "
        "(configs/dreamfusion.yaml does). If it is missing, train it with "
        f"`python -m dream3d.prior.train_shapes --out {BUNDLED_PRIOR}`. "
        "For Stable Diffusion, connect to the hub once or pass a local diffusers folder."
    )
