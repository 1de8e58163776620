"""A DreamGaussian run of a few seconds with the tiny prior, and helpers to compare folders.

Used by the hardening and fault-injection tests: they start from a finished run (copied per
test), break something, and check what the command line says and what is left on disk.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from dream3d.cli import main
from dream3d.run_dir import LOCK_NAME

REPO = Path(__file__).resolve().parents[1]
CONFIG = str(REPO / "configs/dreamgaussian-fast.yaml")
TINY = [
    "trainer.max_steps=4", "system.refine_steps=2", "trainer.checkpoint_every=2", "trainer.progress_bar=false",
    "trainer.preview_every=2", "trainer.preview_resolution=16", "trainer.video=false",
    "system.gaussians.num_points=500", "system.resolutions=[16,16,16]", "system.texture.camera.height=16",
    "system.texture.camera.width=16", "system.backproject.resolution=32", "system.sdedit.ddim_steps=2",
    "export.resolution=32", "export.texture_size=64", "export.preview_size=32", "export.min_auto_threshold=0.1",
]
"""Overrides of a tiny run: 2 Gaussian steps, 2 refinement steps, checkpoints at 2 and 4."""


def run_args(prior: Path, out: Path | None, *extra: str) -> list[str]:
    """``launch.py`` arguments of the tiny run into ``out`` (None: the default run directory)."""
    output = ["--output-dir", str(out)] if out is not None else []
    return ["--config", CONFIG, "--prompt", "a red cube", "--device", "cpu", *output,
            f"system.prior.pretrained={prior}", *TINY, *extra]


def launch(*args: str) -> int:
    """``launch.py`` in this process (``dream3d.cli.main``): its exit code."""
    return main(list(args))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included, the lock file not) -> its bytes."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != LOCK_NAME}


def copy_run(source: Path, destination: Path) -> Path:
    """A private copy of a finished run for one test to break."""
    shutil.copytree(source, destination)
    return destination
