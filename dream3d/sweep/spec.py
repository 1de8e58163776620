"""The sweep file: a typed schema (OmegaConf structured), loaded and checked like a config.

A sweep file lists what varies between trials (``prompts``, ``seed``, ``grid``, ``zip``),
what is fixed for all of them (``overrides``), and how each trial is scheduled
(``resources``, ``retries``). Keys under ``grid``, ``zip`` and ``overrides`` are dotted
run-config keys (``system.guidance.guidance_scale``); they are checked against the
method's schema later, when the trials are expanded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

from omegaconf import OmegaConf

from dream3d.config import ConfigError, merge_into_schema, read_yaml


@dataclass
class ResourcesConfig:
    """What one trial asks of the scheduler (Ray task options; the local executor ignores them)."""

    num_cpus: float = 1.0
    """CPU cores reserved per trial; also the trial's torch thread count on Ray."""
    num_gpus: float = 0.0
    """GPUs per trial (fractions share a GPU between trials)."""
    memory_gb: float = 0.0
    """Memory reserved per trial, GiB (0: no reservation)."""


@dataclass
class SweepSpec:
    """One sweep: the trials are prompts x grid x zip x seed, each on top of ``overrides``."""

    name: str = ""
    """Name of the sweep, used in the output path; defaults to the file name."""
    prompts: List[str] = field(default_factory=list)
    """Prompts to try (``system.prompt``); empty keeps the config's prompt."""
    prompts_file: str = ""
    """A text file with one prompt a line (relative to the sweep file); appended to ``prompts``."""
    seed: List[int] = field(default_factory=list)
    """Seeds to try; empty keeps the config's seed."""
    grid: Dict[str, List[Any]] = field(default_factory=dict)
    """Dotted config key -> values; every combination is a trial (cartesian product)."""
    zip: Dict[str, List[Any]] = field(default_factory=dict)
    """Dotted config key -> values; lists of equal length, taken pairwise (one axis)."""
    overrides: Dict[str, Any] = field(default_factory=dict)
    """Dotted config key -> value, the same for every trial."""
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    """Resources per trial on Ray."""
    retries: int = 0
    """Times a failed trial is run again before it is recorded as failed."""


def read_prompts_file(path: Path) -> List[str]:
    """Non-empty lines of ``path`` without surrounding spaces; ``#`` starts a comment line."""
    if not path.is_file():
        raise ConfigError(f"prompts_file '{path}' does not exist.")
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep file; ``prompts_file`` is read into ``prompts``.

    Raises ``ConfigError`` naming an unknown key, a value of the wrong type, an empty
    ``grid`` list, ``zip`` lists of different lengths, or a key set in two places.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Sweep file '{path}' does not exist. Shipped sweeps are in configs/sweeps/.")
    spec: SweepSpec = merge_into_schema(SweepSpec, [(str(path), read_yaml(path))])
    if not spec.name:
        spec.name = path.stem
    if spec.prompts_file:
        beside, as_given = path.parent / spec.prompts_file, Path(spec.prompts_file)
        spec.prompts = list(spec.prompts) + read_prompts_file(beside if beside.is_file() else as_given)
    spec.overrides = flatten(spec.overrides)
    check_sweep(spec, str(path))
    return spec


def check_sweep(spec: SweepSpec, source: str) -> None:
    """Structural checks that the schema cannot express (``overrides`` already flattened)."""
    for key, values in spec.grid.items():
        if not values:
            raise ConfigError(f"grid key '{key}' in {source} has no values.")
    lengths = {key: len(values) for key, values in spec.zip.items()}
    if len(set(lengths.values())) > 1:
        raise ConfigError(f"zip lists in {source} must have the same length; got {lengths}.")
    if spec.retries < 0:
        raise ConfigError(f"retries in {source} must be >= 0, got {spec.retries}.")
    owners: dict[str, str] = {}
    if spec.prompts:
        owners["system.prompt"] = "prompts"
    if spec.seed:
        owners["seed"] = "seed"
    for section in ("grid", "zip", "overrides"):
        for key in getattr(spec, section):
            if key == "method":
                raise ConfigError(f"'method' cannot be swept ({source}); run one sweep per config instead.")
            if key in owners:
                raise ConfigError(f"config key '{key}' is set by both '{owners[key]}' and '{section}' in {source}.")
            owners[key] = section


def flatten(mapping: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """``{"a": {"b": 1}, "c.d": 2}`` -> ``{"a.b": 1, "c.d": 2}``."""
    flat: Dict[str, Any] = {}
    for key, value in mapping.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, full + "."))
        else:
            flat[full] = value
    return flat


def sweep_to_yaml(spec: SweepSpec, extra: Dict[str, Any] | None = None) -> str:
    """The resolved sweep as YAML, with ``extra`` top-level sections (e.g. the trial list)."""
    node = OmegaConf.to_container(OmegaConf.structured(spec))
    node.update(extra or {})
    return OmegaConf.to_yaml(OmegaConf.create(node))
