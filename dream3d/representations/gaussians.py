"""3D Gaussians as a ``Representation`` (DreamGaussian, Tang et al. 2023, arXiv:2309.16653).

State: the Gaussians' parameters and, as module extra state, the densifier's running
statistics (per-Gaussian screen-space gradients and visibility counts), so that a resumed
run densifies exactly as an uninterrupted one. One Adam per parameter (gsplat's layout);
the position rate decays log-linearly with the step. Training renders are composited over
a random white or black background (DreamGaussian); evaluation renders over white. A
``lambertian`` or ``textureless`` render is the albedo render lit with normals from its own
depth (``dream3d.render.depth_shading``), so the prior sees the shading its training images
had. The mesh comes from the Gaussians' local density (``export.surface: density``) or from
the cleaned solid inside their silhouette hull (``solid``), with a texture back-projected from
renders.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dream3d.cameras import Cameras
from dream3d.export.backproject import BackprojectConfig
from dream3d.export.config import ExportConfig
from dream3d.export.silhouette import SilhouetteViews
from dream3d.interfaces import MeshAsset, RenderMode
from dream3d.render.depth_shading import shade
from dream3d.render.splat import SplatConfig, render_gaussians
from dream3d.render.types import Render
from dream3d.scene.gaussians import Densifier, GaussianConfig, GaussianScene

log = logging.getLogger(__name__)


@dataclass
class GaussianSceneConfig:
    """Everything a Gaussian representation is built from."""

    gaussians: GaussianConfig = field(default_factory=GaussianConfig)
    splat: SplatConfig = field(default_factory=SplatConfig)
    backproject: BackprojectConfig = field(default_factory=BackprojectConfig)
    black_background_probability: float = 0.5


class GaussianRepresentation(nn.Module):
    """Gaussians, their per-parameter Adams and gsplat's densification strategy."""

    regulariser_names: tuple[str, ...] = ()

    def __init__(self, config: GaussianSceneConfig, device: torch.device):
        super().__init__()
        self.config = config
        self.device = device
        self.scene = GaussianScene(config.gaussians).to(device)
        self._optimizers = self.scene.make_optimizers()
        self.densifier = Densifier(config.gaussians.densify, self.scene, self._optimizers)

    @property
    def num_gaussians(self) -> int:
        return self.scene.num_gaussians

    def background(self) -> Tensor:
        """White, or (in training, with the configured chance) black; one draw of the global RNG."""
        if not self.training:
            return torch.ones(3, device=self.device)
        black = torch.rand(()) < self.config.black_background_probability
        return torch.full((3,), 0.0 if black else 1.0, device=self.device)

    def render(self, cameras: Cameras, mode: RenderMode = "albedo") -> Render:
        """Splat the Gaussians' albedo; other modes light it with normals from the rendered depth."""
        render = render_gaussians(self.scene, cameras, self.background(), self.config.splat)
        if mode != "albedo":
            render.rgb = shade(render, cameras, mode)
        return render

    def regularisers(self, render: Render, names: tuple[str, ...]) -> dict[str, Tensor]:
        return {}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Per-parameter Adams, rebuilt (keeping the densifier's statistics) if a checkpoint resized the scene."""
        stale = any(opt.param_groups[0]["params"][0] is not self.scene.params[name] for name, opt in self._optimizers.items())
        if stale:
            self._optimizers = self.scene.make_optimizers()
            self.densifier = Densifier(self.config.gaussians.densify, self.scene, self._optimizers, state=self.densifier.state)
        return self._optimizers

    def before_backward(self, step: int, render: Render) -> None:
        """Set the position learning rate of ``step``; keep the screen-space gradients."""
        self.scene.update_learning_rate(self.optimizers(), step)
        self.densifier.before_backward(step, render.extras["info"])

    def upkeep(self, step: int, render: Render) -> None:
        """Accumulate statistics; clone, split and prune; reset opacities (3DGS, Kerbl et al. 2023)."""
        self.densifier.after_backward(step, render.extras["info"])

    # ------------------------------------------------------------ state
    def get_extra_state(self) -> dict[str, Any]:
        return {k: v.clone() if torch.is_tensor(v) else v for k, v in self.densifier.state.items()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.densifier.state.clear()
        self.densifier.state.update({k: v.to(self.device) if torch.is_tensor(v) else v for k, v in state.items()})

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """The scene first (it resizes to the checkpoint's Gaussian count), then the statistics."""
        scene_state = {k[len("scene."):]: v for k, v in state_dict.items() if k.startswith("scene.")}
        self.scene.load_state_dict(scene_state, strict=strict)
        self.optimizers()
        self.set_extra_state(state_dict["_extra_state"])
        return None

    # ------------------------------------------------------------ meshes
    @torch.no_grad()
    def to_mesh(self, export_config: ExportConfig) -> MeshAsset:
        """Mesh (density level, or the solid inside the silhouette hull), UVs, and a texture
        back-projected from renders."""
        from dream3d.export import texel_surface_points
        from dream3d.export.backproject import backproject_texture
        from dream3d.export.pipeline import extract_mesh, unwrap
        from dream3d.scene.textured_mesh import MeshFrame

        mesh, _ = extract_mesh(self.scene, export_config, self.device, silhouettes=self.silhouettes(export_config))
        uv_mesh = unwrap(mesh, export_config)
        texels = texel_surface_points(uv_mesh.vertices, uv_mesh.faces, uv_mesh.uvs, size=export_config.texture_size,
                                      vertex_normals=uv_mesh.normals)
        texture, _ = backproject_texture(self.scene, texels, self.config.backproject)
        log.info("Gaussians to mesh: %d faces, %d Gaussians", len(uv_mesh.faces), self.num_gaussians)
        return MeshAsset(uv_mesh, MeshFrame.identity_world(), texture)

    def training_background(self) -> Tensor | None:
        """The one plain background the prior saw in training, or None when it varied."""
        black = self.config.black_background_probability
        if black in (0.0, 1.0):
            return torch.full((3,), 1.0 - black, device=self.device)
        return None

    @torch.no_grad()
    def silhouettes(self, export_config: ExportConfig) -> SilhouetteViews | None:
        """The Gaussians' silhouettes, whose hull bounds the solid (``surface: solid`` only; on by default)."""
        from dream3d.export.config import silhouettes_wanted
        from dream3d.export.silhouette import render_silhouettes

        if not silhouettes_wanted(export_config, on_by_default=True):
            return None

        def render(cameras: Cameras, background: Tensor) -> Render:
            return render_gaussians(self.scene, cameras, background, self.config.splat)

        return render_silhouettes(render, export_config.silhouette, self.training_background(), self.device)

    def export(self, run_dir: Path, export_config: ExportConfig) -> dict:
        from dream3d.export.asset import write_mesh_asset

        asset = self.to_mesh(export_config)
        return write_mesh_asset(asset.mesh, asset.frame, asset.texture, Path(run_dir), export_config)
