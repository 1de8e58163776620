"""The CPU configs being benchmarked, and whether each method is built yet."""
from __future__ import annotations

import importlib
from pathlib import Path

METHODS: dict[str, str] = {
    "dreamfusion": "configs/dreamfusion.yaml",
    "prolificdreamer": "configs/prolificdreamer.yaml",
    "dreamgaussian": "configs/dreamgaussian-fast.yaml",
    "texture": "configs/texture.yaml",
}
"""Method name -> its CPU config (bundled prior), relative to the repository root."""


def not_built_reason(method: str, repo: Path) -> str | None:
    """Why ``method`` cannot run yet (not registered, not importable, no config), or None."""
    from dream3d.methods import SHIPPED

    if method not in SHIPPED:
        return f"'{method}' is not registered in dream3d.methods.SHIPPED"
    module_name = SHIPPED[method]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        return f"{module_name} does not import: {error}"
    missing = [name for name in ("recipe", "validate") if not hasattr(module, name)]
    if missing:
        return f"{module_name} has no {', '.join(missing)}"
    if not (repo / METHODS[method]).is_file():
        return f"{METHODS[method]} does not exist"
    return None
