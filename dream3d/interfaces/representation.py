"""``Representation``: what a stage optimises, and how it is rendered and meshed.

A representation is an ``nn.Module`` whose ``state_dict`` holds everything that changes
during training, running statistics included (the Gaussians' densifier statistics travel as
module extra state), and which owns its optimizers. One step of a stage is:
``render(cameras, mode)`` -> guidance loss + weighted ``regularisers(render)`` ->
``before_backward`` -> backward -> optimizer steps -> ``upkeep`` (densification, the
occupancy grid). ``to_mesh`` turns it into a textured mesh (``MeshAsset``), which is what a
later stage starts from and what ``export`` writes. NeRFs, 3D Gaussians and textured
meshes implement it; a DMTet stage would be one more module behind it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import torch
from torch import Tensor

from dream3d.cameras import Cameras
from dream3d.render.types import Render

RenderMode = Literal["albedo", "lambertian", "textureless"]
"""DreamFusion's shading modes (Poole et al. 2022, sec. 3.1)."""


@dataclass
class MeshAsset:
    """A UV-mapped mesh in the normalised world, its texture ``[S,S,3]`` in [0,1], and the
    frame that maps it back to the coordinates of the file it came from."""

    mesh: object  # dream3d.export.types.UVMesh
    frame: object  # dream3d.scene.textured_mesh.MeshFrame
    texture: Tensor | None


@runtime_checkable
class Representation(Protocol):
    """A differentiable scene behind one stage.

    One whose geometry is fixed (a texture stage) sets a class attribute ``fixed_geometry = True``:
    ``--export`` then refuses the ``export.*`` options that make a mesh, which it would ignore."""

    device: torch.device

    def render(self, cameras: Cameras, mode: RenderMode = "albedo") -> Render:
        """Renders ``rgb [B,H,W,3]`` in [0,1] (over the training background when training)."""
        ...

    def regularisers(self, render: Render) -> dict[str, Tensor]:
        """Named scalar regularisers of this render; a stage weights the ones it lists."""
        ...

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimizers of the parameters, by name (rebuilt if a checkpoint resized them)."""
        ...

    def before_backward(self, step: int, render: Render) -> None:
        """Hook between the loss and ``backward`` (e.g. keep screen-space gradients)."""
        ...

    def upkeep(self, step: int, render: Render) -> None:
        """Hook after the optimizer step (densify and prune; refresh the occupancy grid)."""
        ...

    def to_mesh(self, export_config) -> MeshAsset:
        """A textured mesh of the current state (``export_config``: ``ExportConfig``)."""
        ...

    def export(self, run_dir: Path, export_config) -> dict:
        """Write ``run_dir/mesh/`` and return a summary of what was written."""
        ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state_dict: dict, strict: bool = True): ...
