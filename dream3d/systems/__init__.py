"""One recipe per method. ``SYSTEMS`` maps a config's ``method`` to its run-config schema
and its system class; it is read only by ``run_config_class`` and ``build_system``."""
from __future__ import annotations

import importlib

import torch

# method -> (module, run-config class, system class); imported lazily so that a method's
# optional dependencies never load for another method.
SYSTEMS: dict[str, tuple[str, str, str]] = {
    "dreamfusion": ("dream3d.systems.dreamfusion", "DreamFusionRunConfig", "DreamFusionSystem"),
    "prolificdreamer": ("dream3d.systems.prolificdreamer", "ProlificDreamerRunConfig", "ProlificDreamerSystem"),
    "texture": ("dream3d.systems.texture", "TextureRunConfig", "TextureSystem"),
    "dreamgaussian": ("dream3d.systems.dreamgaussian", "DreamGaussianRunConfig", "DreamGaussianSystem"),
}


def _lookup(method: str, index: int):
    if method not in SYSTEMS:
        from dream3d.config import ConfigError

        raise ConfigError(f"Unknown method '{method}'. Known methods: {', '.join(sorted(SYSTEMS))}.")
    module = importlib.import_module(SYSTEMS[method][0])
    return getattr(module, SYSTEMS[method][index])


def run_config_class(method: str) -> type:
    """The typed run-config dataclass of ``method``."""
    return _lookup(method, 1)


def build_system(config, device: torch.device, load_prior: bool = True):
    """The system for ``config.method``; ``load_prior=False`` builds only what export needs."""
    return _lookup(config.method, 2)(config, device, load_prior=load_prior)
