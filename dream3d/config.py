"""Typed configs: YAML + command-line dotlist -> nested dataclasses (OmegaConf structured).

A YAML file names its ``method``; the method's run-config dataclass is the schema
(``dream3d.methods.load_config`` picks it). A key
that is not in the schema, or a value of the wrong type, raises ``ConfigError`` whose
message names the key and the closest valid key; ``launch.py`` turns it into exit code 2.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException


class ConfigError(ValueError):
    """A user-facing configuration mistake (unknown key, wrong type, missing file)."""


@dataclass
class TrainerConfig:
    """The training loop."""

    max_steps: int = 1000
    """Optimisation steps."""
    log_every: int = 10
    """Steps between progress-bar statistics updates."""
    preview_every: int = 200
    """Steps between preview grids in ``previews/`` (0 disables)."""
    checkpoint_every: int = 500
    """Steps between checkpoints (one is always written at the end and on Ctrl-C)."""
    preview_views: int = 4
    """Views in each preview grid."""
    preview_resolution: int = 128
    """Height and width of each preview view."""
    video: bool = True
    """Write a turntable ``video.mp4`` at the end."""
    video_frames: int = 48
    """Frames in the turntable."""
    video_fps: int = 24
    """Frames per second of the turntable."""
    video_resolution: int = 256
    """Height and width of the turntable frames."""
    video_shading: Literal["albedo", "lambertian", "textureless"] = "lambertian"
    """Shading of the turntable: lit (``lambertian``, shows the form), flat ``albedo``, or
    ``textureless`` (white, lit); the light uses normals from the depth map."""
    video_elevation: float = 15.0
    """Camera elevation of the turntable, degrees."""
    export: bool = True
    """Export a textured mesh at the end of training."""
    progress_bar: bool = True
    """Show a progress bar (tqdm)."""
    pause_at_step: int = 0
    """Stop as if interrupted once this step is reached (0: never); resume with --resume."""
    logger: Literal["none", "tensorboard"] = "none"
    """Where step statistics go besides the progress bar: ``tensorboard`` writes
    ``<run_dir>/tensorboard/`` (``dream3d.logging_tb``; pip install tensorboard)."""


@dataclass
class RunConfig:
    """Fields every method shares; each method adds its typed ``system`` section."""

    method: str = "dreamfusion"
    """Which recipe runs (dreamfusion, prolificdreamer, dreamgaussian, texture, or a plugin's)."""
    name: str = ""
    """Config name used in the output path; defaults to the YAML's file name."""
    seed: int = 0
    """Seed of every random number generator."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """``auto`` (cuda when available), ``cpu`` or ``cuda``."""
    output_root: str = "outputs"
    """Parent folder of run directories."""
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    """The training loop."""


def _valid_keys(schema: DictConfig, parent_path: str) -> list[str]:
    node: Any = schema
    for part in [p for p in parent_path.split(".") if p]:
        node = node[part] if isinstance(node, DictConfig) and part in node else None
        if node is None:
            return []
    return list(node.keys()) if isinstance(node, DictConfig) else []


def _describe(error: OmegaConfBaseException, schema: DictConfig, source: str) -> ConfigError:
    full_key = getattr(error, "full_key", None) or ""
    parent, _, key = full_key.rpartition(".")
    if isinstance(error, ConfigKeyError) or "not in" in str(error):
        valid = _valid_keys(schema, parent)
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
        hint = f" Did you mean '{(parent + '.' if parent else '') + close[0]}'?" if close else ""
        listing = f" Valid keys here: {', '.join(valid)}." if valid else ""
        return ConfigError(f"Unknown config key '{full_key}' (from {source}).{hint}{listing}")
    message = str(error).splitlines()[0]
    return ConfigError(f"Invalid value for config key '{full_key}' (from {source}): {message}")


def merge_into_schema(schema_cls: type, layers: list[tuple[str, Any]]) -> Any:
    """Merge ``(source, dict-or-DictConfig)`` layers over ``schema_cls`` into its dataclass."""
    schema = OmegaConf.structured(schema_cls)
    merged = schema
    for source, layer in layers:
        try:
            merged = OmegaConf.merge(merged, layer)
        except OmegaConfBaseException as error:
            raise _describe(error, schema, source) from None
    try:
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as error:
        raise _describe(error, schema, "the merged config") from None


def parse_dotlist(overrides: list[str]) -> DictConfig:
    """``["a.b=1", ...]`` -> DictConfig; a malformed item raises ``ConfigError`` naming it."""
    for item in overrides:  # one at a time, so that the message names the bad one
        if "=" not in item:
            raise ConfigError(f"Override '{item}' is not of the form key=value (e.g. trainer.max_steps=200).")
        try:
            OmegaConf.from_dotlist([item])
        except Exception as error:  # noqa: BLE001 - omegaconf, YAML and key-path parsers raise many kinds
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ConfigError(f"Could not parse the override {item!r} (its value is read as YAML): {reason}.") from None
    return OmegaConf.from_dotlist(list(overrides))


def read_yaml(path: str | Path) -> DictConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file '{path}' does not exist. Shipped configs are in configs/ (see --help).")
    try:
        loaded = OmegaConf.load(path)
    except Exception as error:  # noqa: BLE001 - YAML syntax errors of any kind
        raise ConfigError(f"Could not read config '{path}': {error}") from None
    if not isinstance(loaded, DictConfig):
        raise ConfigError(f"Config '{path}' must be a mapping of keys to values.")
    return loaded


def save_config(config: Any, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    from dream3d.atomic import write_text

    write_text(path, OmegaConf.to_yaml(OmegaConf.structured(config)))

