"""Names of run directories."""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path


def slugify(text: str, limit: int = 60) -> str:
    """Lower-case ASCII letters and digits joined by ``_`` (never empty, never a path)."""
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return slug[:limit] or "untitled"


def default_run_dir(config) -> Path:
    """``<output_root>/<config name>/<prompt slug>@<time>``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(config.output_root) / slugify(config.name) / f"{slugify(config.system.prompt)}@{stamp}"
