"""The methods the app offers: the shipped configs, CPU ones first when there is no GPU."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dream3d.config import read_yaml
from dream3d.launch_args import CONFIG_DIR


@dataclass(frozen=True)
class MethodChoice:
    """One shipped config."""

    name: str
    """The YAML's stem (``dreamfusion``, ``dreamgaussian-sd``, ...)."""
    path: Path
    description: str
    """The YAML's first comment line."""
    needs_gpu: bool
    """A ``-sd`` config (Stable Diffusion 2.1-base)."""
    needs_mesh: bool
    """The texture method: it starts from a mesh file."""
    needs_image: bool = False
    """Image to 3D: a view-conditioned prior (``system.prior.type: image``) and an input image."""

    @property
    def label(self) -> str:
        return f"{self.name}: {self.description}" if self.description else self.name


def _choice(path: Path) -> MethodChoice:
    first = path.read_text().splitlines()[0] if path.stat().st_size else ""
    description = first.lstrip("# ").strip() if first.startswith("#") else ""
    yaml = read_yaml(path)
    prior = (yaml.get("system") or {}).get("prior") or {}
    return MethodChoice(path.stem, path, description, path.stem.endswith("-sd"), yaml.get("method") == "texture",
                        prior.get("type") == "image")


def method_choices(gpu: bool, config_dir: Path = CONFIG_DIR) -> list[MethodChoice]:
    """Every ``config_dir/*.yaml``; those that suit this machine (CPU or GPU) first, each group by name."""
    choices = [_choice(path) for path in sorted(Path(config_dir).glob("*.yaml"))]
    return sorted(choices, key=lambda c: (c.needs_gpu != gpu, c.name))
