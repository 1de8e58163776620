"""Validation before work: everything a user can get wrong is checked before any model loads.

``check_run`` looks at the typed config (ranges the schema cannot express, and the method's
own checks), the prompt against a local prior's vocabulary (read from its
``vocabulary.json``; no weights are loaded), input mesh files, and whether the run
directory can be written. Each failure raises ``ConfigError`` with what to fix; the
command line turns it into exit code 2 without a traceback.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dream3d.config import ConfigError
from dream3d.export.config import validate_export_config
from dream3d.loggers import check_logger
from dream3d.prior.source import local_folder
from dream3d.prior.vocabulary import check_words, prompt_words, read_vocabulary

MAX_RENDER_SIZE = 1024
"""Largest training render side, pixels (larger ones do not fit in memory)."""


def check_trainer(config: Any) -> None:
    trainer = config.trainer
    if trainer.max_steps < 1:
        raise ConfigError(f"trainer.max_steps must be at least 1, got {trainer.max_steps}.")
    for key in ("preview_resolution", "video_resolution"):
        value = getattr(trainer, key)
        if not 8 <= value <= 2048:
            raise ConfigError(f"trainer.{key} must be in [8, 2048] pixels, got {value}.")
    check_logger(trainer.logger)


def check_cameras(config: Any) -> None:
    """Every camera sampler of the system: a render size in [8, MAX_RENDER_SIZE]."""
    system = config.system
    samplers = {"system.camera": getattr(system, "camera", None)}
    texture = getattr(system, "texture", None)
    if texture is not None:
        samplers["system.texture.camera"] = texture.camera
    for key, sampler in samplers.items():
        if sampler is None:
            continue
        for side in ("height", "width"):
            value = getattr(sampler, side)
            if not 8 <= value <= MAX_RENDER_SIZE:
                raise ConfigError(f"{key}.{side} must be in [8, {MAX_RENDER_SIZE}] pixels, got {value}.")


def check_prompt(config: Any) -> None:
    """A non-empty prompt whose words a closed-vocabulary prior knows."""
    system = config.system
    if not system.prompt.strip():
        raise ConfigError("The prompt is empty: pass --prompt \"a red cube\" (or set system.prompt).")
    if system.guidance.guidance_scale < 0:
        raise ConfigError(f"system.guidance.guidance_scale must be >= 0, got {system.guidance.guidance_scale}.")
    if system.guidance.image_weight < 0:
        raise ConfigError(f"system.guidance.image_weight must be >= 0, got {system.guidance.image_weight}.")
    folder = local_folder(system.prior.pretrained)
    if folder is None:
        return  # a hub id: an open vocabulary, or a load error later that says what was tried
    vocabulary = read_vocabulary(folder)
    if vocabulary is not None and not prompt_words(system.prompt):
        raise ConfigError(f"The prompt {system.prompt[:80]!r} has no words (letters or digits) that the prior "
                          f"'{system.prior.pretrained}' could read.")
    check_words(system.prompt, vocabulary, system.prior.pretrained)
    check_words(system.negative_prompt, vocabulary, system.prior.pretrained)


def check_mesh_files(config: Any) -> None:
    """A mesh file to start from exists and is a file."""
    path = getattr(config.system, "mesh_path", "")
    if path and not Path(path).is_file():
        raise ConfigError(f"The mesh '{path}' does not exist (or is not a file). Pass an OBJ, GLB or PLY file.")


def check_run_dir(run_dir: Path) -> None:
    """The run directory is, or can be made, a writable directory."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"The output directory '{run_dir}' is an existing file; choose another --output-dir.")
    existing = run_dir
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"Cannot write the output directory '{run_dir}': '{existing}' is not writable. "
                          "Choose another --output-dir.")


def check_run(config: Any, run_dir: Path | None = None) -> None:
    """Every check above, then the method's own (``dream3d.methods``)."""
    from dream3d.methods import get_method

    check_trainer(config)
    check_cameras(config)
    try:
        validate_export_config(config.export)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    check_prompt(config)
    check_mesh_files(config)
    get_method(config.method).validate(config)
    if run_dir is not None:
        check_run_dir(run_dir)
