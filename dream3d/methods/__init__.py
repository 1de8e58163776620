"""The methods dream3d runs, by ``method`` name: the one place that picks a recipe by name.

A method is a module with a run-config dataclass (the schema of its YAML), a
``recipe(config) -> Recipe`` that lists its stages, and a ``validate(config)`` of what the
schema cannot express. ``METHODS`` names the shipped ones; a plugin package adds its own
without editing dream3d, through the ``dream3d.methods`` entry-point group:

    [project.entry-points."dream3d.methods"]
    mymethod = "my_package.my_method:METHOD"

where ``METHOD = Method(MyRunConfig, recipe, validate)``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable

from omegaconf import OmegaConf

from dream3d.config import ConfigError, RunConfig, merge_into_schema, parse_dotlist, read_yaml
from dream3d.recipe.stage import Recipe

ENTRY_POINT_GROUP = "dream3d.methods"


@dataclass(frozen=True)
class Method:
    """A method: its run-config schema, its stage list, and its extra checks."""

    config_class: type
    recipe: Callable[[Any], Recipe]
    validate: Callable[[Any], None]


SHIPPED: dict[str, str] = {
    "dreamfusion": "dream3d.methods.dreamfusion",
    "prolificdreamer": "dream3d.methods.prolificdreamer",
    "dreamgaussian": "dream3d.methods.dreamgaussian",
    "texture": "dream3d.methods.texture",
}
"""Shipped methods: name -> module with ``*RunConfig``, ``recipe`` and ``validate``."""

CONFIG_CLASSES = {
    "dreamfusion": "DreamFusionRunConfig",
    "prolificdreamer": "ProlificDreamerRunConfig",
    "dreamgaussian": "DreamGaussianRunConfig",
    "texture": "TextureRunConfig",
}


def plugin_methods() -> dict[str, Any]:
    """Methods that installed packages register under the ``dream3d.methods`` entry points."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_methods() -> list[str]:
    return sorted(set(SHIPPED) | set(plugin_methods()))


def get_method(name: str) -> Method:
    """The method called ``name`` (shipped modules are imported lazily)."""
    if name in SHIPPED:
        module = importlib.import_module(SHIPPED[name])
        return Method(getattr(module, CONFIG_CLASSES[name]), module.recipe, module.validate)
    plugins = plugin_methods()
    if name in plugins:
        method = plugins[name].load()
        if not isinstance(method, Method):
            raise ConfigError(f"The plugin method '{name}' must be a dream3d.methods.Method.")
        return method
    raise ConfigError(f"Unknown method '{name}'. Known methods: {', '.join(known_methods())}.")


def run_config_class(method: str) -> type:
    """The typed run-config dataclass of ``method``."""
    return get_method(method).config_class


def load_config(path: str | Path, overrides: list[str] | None = None, extra: dict | None = None) -> Any:
    """Load a YAML config plus overrides into its method's typed run config.

    ``extra`` holds values set by named command-line flags (e.g. ``--prompt``), applied
    after the YAML and before the dotlist overrides.
    """
    yaml_cfg = read_yaml(path)
    cli = parse_dotlist(overrides or [])
    method = cli.get("method", yaml_cfg.get("method", RunConfig.method))
    layers: list[tuple[str, Any]] = [(str(path), yaml_cfg)]
    if extra:
        layers.append(("command-line flags", OmegaConf.create(extra)))
    layers.append(("command-line overrides", cli))
    config = merge_into_schema(run_config_class(method), layers)
    if not config.name:
        config.name = Path(path).stem
    return config


def build_recipe(config: Any) -> Recipe:
    """The stage list of ``config``'s method (after its checks)."""
    method = get_method(config.method)
    method.validate(config)
    return method.recipe(config)
