"""Expansion of a sweep into trials, each resolved into its method's typed run config.

Trials are the product of the axes ``prompts`` x each ``grid`` key x ``zip`` x ``seed``, in
that order (seeds vary fastest). Every trial's config is built and validated before any
trial runs, so a misspelled key or a wrong type fails the whole sweep at once.

Precedence, lowest first: the ``--config`` YAML, the sweep's ``overrides``, the trial's
own values, named command-line flags (``--device`` ...), dotted command-line overrides.
A command-line key that a trial varies is an error (every trial would be the same).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dream3d.config import ConfigError, RunConfig, merge_into_schema, parse_dotlist, read_yaml
from dream3d.methods import run_config_class
from dream3d.naming import slugify
from dream3d.preflight import check_run
from dream3d.sweep.spec import SweepSpec, flatten


@dataclass
class Trial:
    """One point of the sweep."""

    index: int
    """Position in the sweep (0-based)."""
    id: str
    """``<index>_<slug>``: the name of its run directory."""
    overrides: Dict[str, Any]
    """Dotted config key -> value: what this trial varies."""
    config: Any = None
    """The resolved, validated run config (filled by ``resolve_trials``)."""
    config_yaml: str = ""
    """``config`` as the YAML that ``train`` saves as ``config.yaml``."""


def nest(flat: Dict[str, Any]) -> Dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``."""
    tree: Dict[str, Any] = {}
    for key, value in flat.items():
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def _label(key: str, value: Any) -> str:
    if key == "system.prompt":
        return str(value)
    text = str(value)
    if isinstance(value, str) and "/" in value:
        text = value.rstrip("/").rsplit("/", 1)[-1]  # paths: their last part
    return f"{key.rsplit('.', 1)[-1]} {text}"


def expand_trials(spec: SweepSpec) -> List[Trial]:
    """The trials of ``spec`` (one trial with no overrides when nothing varies)."""
    axes: List[List[Dict[str, Any]]] = []
    if spec.prompts:
        axes.append([{"system.prompt": prompt} for prompt in spec.prompts])
    axes += [[{key: value} for value in values] for key, values in spec.grid.items()]
    if spec.zip:
        length = len(next(iter(spec.zip.values())))
        axes.append([{key: values[i] for key, values in spec.zip.items()} for i in range(length)])
    if spec.seed:
        axes.append([{"seed": seed} for seed in spec.seed])
    combos = [dict(kv for part in combo for kv in part.items()) for combo in itertools.product(*axes)]
    width = max(3, len(str(len(combos) - 1)))
    trials = []
    for index, overrides in enumerate(combos):
        slug = slugify(" ".join(_label(k, v) for k, v in overrides.items()) or spec.name, limit=60)
        trials.append(Trial(index, f"{index:0{width}d}_{slug}", overrides))
    return trials


def resolve_trials(
    trials: List[Trial], spec: SweepSpec, sweep_path: str, config_path: str,
    cli_overrides: List[str], flags: Dict[str, Any],
) -> List[Trial]:
    """Build and validate every trial's run config (raises ``ConfigError`` at the first bad one).

    The layers shared by all trials are merged once; each trial then merges only its own
    values. Command-line keys never clash with trial keys, so the order is the documented one.
    """
    yaml_cfg = read_yaml(config_path)
    cli = parse_dotlist(cli_overrides)
    command_line = set(flatten(flags)) | {item.split("=", 1)[0].lstrip("+") for item in cli_overrides}
    clash = sorted(command_line & set(trials[0].overrides if trials else ()))
    if clash:
        raise ConfigError(f"{', '.join(clash)} is varied by the sweep {sweep_path}; do not also set it on the command line.")
    schema_cls = run_config_class(cli.get("method", yaml_cfg.get("method", RunConfig.method)))
    shared = [(config_path, yaml_cfg), (f"{sweep_path} overrides", nest(spec.overrides)),
              ("command-line flags", flags), ("command-line overrides", cli)]
    base = merge_into_schema(schema_cls, shared)
    base.name = base.name or Path(config_path).stem
    base_node = OmegaConf.structured(base)
    for trial in trials:
        layer = nest(trial.overrides)
        try:
            merged = OmegaConf.merge(base_node, layer)
        except OmegaConfBaseException:  # the slow path, for its message naming the key
            merge_into_schema(schema_cls, [*shared, (f"{sweep_path}, trial {trial.id}", layer)])
            raise
        trial.config = OmegaConf.to_object(merged)
        trial.config_yaml = OmegaConf.to_yaml(merged)
        try:
            check_run(trial.config)  # what each trial would refuse at run time, refused now
        except ConfigError as error:
            raise ConfigError(f"{sweep_path}, trial {trial.id}: {error}") from None
    return trials
