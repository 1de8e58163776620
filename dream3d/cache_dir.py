"""Where dream3d keeps what it can recompute: ``$DREAM3D_CACHE_DIR`` or ``~/.cache/dream3d``."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """The cache's root folder (not created here)."""
    return Path(os.environ.get("DREAM3D_CACHE_DIR") or Path.home() / ".cache" / "dream3d")
