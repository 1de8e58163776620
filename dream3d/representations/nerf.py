"""A NeRF as a ``Representation``: a field, its background and volume renderer, and Adam.

The field starts from a fitted blob (``dream3d.scene.initial_shape``); renders are shaded as
in DreamFusion (Poole et al. 2022, sec. 3.1); upkeep refreshes the occupancy grid. Its
regularisers are DreamFusion's orientation loss (appendix A.2), the mean opacity
(``opacity_sparsity``), the binary entropy of each pixel's opacity (``opacity_entropy``,
``dream3d.render.opacity_entropy``) and, on a dense grid, Plenoxels' squared total variation
(Fridovich-Keil et al. 2022, eq. 4; ``grid_tv``).
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from dream3d.cameras import Cameras
from dream3d.export.config import ExportConfig
from dream3d.export.silhouette import SilhouetteSource
from dream3d.interfaces import MeshAsset, RenderMode
from dream3d.render.opacity_entropy import opacity_entropy
from dream3d.render.shading import ShadingConfig
from dream3d.render.types import Render
from dream3d.render.volume import VolumeRendererConfig
from dream3d.render.volume_backend import build_volume_renderer
from dream3d.scene.background import Background, BackgroundConfig
from dream3d.scene.initial_shape_cache import fit_initial_shape_cached
from dream3d.scene.nerf import NeRFConfig, NeRFField

REGULARISERS = ("orientation", "opacity_sparsity", "opacity_entropy", "grid_tv")


@dataclass
class NeRFOptimConfig:
    """Adam learning rates per module."""

    encoding_lr: float = 0.01
    """Learning rate of the grid encoding."""
    network_lr: float = 0.001
    """Learning rate of the field's MLP."""
    background_lr: float = 0.001
    """Learning rate of a learned background."""
    betas: tuple[float, float] = (0.9, 0.99)
    """Adam betas."""
    eps: float = 1e-15
    """Adam epsilon."""


@dataclass
class NeRFSceneConfig:
    """Everything a NeRF representation is built from."""

    nerf: NeRFConfig = field(default_factory=NeRFConfig)
    renderer: VolumeRendererConfig = field(default_factory=VolumeRendererConfig)
    shading: ShadingConfig = field(default_factory=ShadingConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    optimizer: NeRFOptimConfig = field(default_factory=NeRFOptimConfig)


class NeRFRepresentation(nn.Module):
    """A NeRF field rendered by volume rendering (state: the renderer, which holds the field,
    the background and the occupancy grid)."""

    regulariser_names = REGULARISERS

    def __init__(self, config: NeRFSceneConfig, device: torch.device):
        super().__init__()
        self.device = device
        field_ = NeRFField(config.nerf).to(device)
        fit_initial_shape_cached(field_, config.nerf.initial_shape)
        background = Background(config.background).to(device)
        self.renderer = build_volume_renderer(field_, background, config.renderer, config.shading).to(device)
        opt = config.optimizer
        groups = [
            {"params": list(field_.encoding.parameters()), "lr": opt.encoding_lr, "name": "encoding"},
            {"params": list(field_.mlp.parameters()), "lr": opt.network_lr, "name": "network"},
        ]
        background_params = list(background.parameters())
        if background_params:
            groups.append({"params": background_params, "lr": opt.background_lr, "name": "background"})
        self.optimizer = torch.optim.Adam(groups, betas=opt.betas, eps=opt.eps)

    @property
    def field(self) -> NeRFField:
        return self.renderer.field

    def render(self, cameras: Cameras, mode: RenderMode = "albedo") -> Render:
        """Volume render; in training mode samples are jittered and the light too."""
        return self.renderer(cameras, mode)

    def regularisers(self, render: Render, names: tuple[str, ...]) -> dict[str, Tensor]:
        """The named terms (see module docstring); orientation only where normals were rendered."""
        terms: dict[str, Tensor] = {}
        for name in names:
            if name == "orientation" and "orientation" in render.extras:
                terms[name] = render.extras["orientation"]
            elif name == "grid_tv":
                terms[name] = self.field.encoding.total_variation()
            elif name == "opacity_sparsity":
                terms[name] = render.alpha.mean()
            elif name == "opacity_entropy":
                terms[name] = opacity_entropy(render.alpha)
        return terms

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.optimizer}

    def before_backward(self, step: int, render: Render) -> None:
        """Nothing to prepare."""

    @torch.no_grad()
    def upkeep(self, step: int, render: Render) -> None:
        """Refresh the occupancy grid."""
        self.renderer.update(step)

    def silhouettes(self, export_config: ExportConfig) -> SilhouetteSource | None:
        """What bounds the solid: the field's opacity seen from the silhouette rig, read from the
        density grid that the export samples (``dream3d.export.density_silhouette``). Off unless
        ``export.silhouette.enabled`` is true (``surface: solid`` only)."""
        from dream3d.export.config import silhouettes_wanted
        from dream3d.export.density_silhouette import density_silhouettes

        if not silhouettes_wanted(export_config, on_by_default=False):
            return None
        return functools.partial(density_silhouettes, config=export_config.silhouette, device=self.device)

    @torch.no_grad()
    def to_mesh(self, export_config: ExportConfig) -> MeshAsset:
        """Surface (marching cubes + cleanup), UVs and baked albedo, in dream3d's world."""
        from dream3d.export.pipeline import bake, extract_mesh, unwrap
        from dream3d.scene.textured_mesh import MeshFrame

        self.eval()
        mesh, _ = extract_mesh(self.field, export_config, self.device, silhouettes=self.silhouettes(export_config))
        uv_mesh = unwrap(mesh, export_config)
        return MeshAsset(uv_mesh, MeshFrame.identity_world(), bake(self.field, uv_mesh, export_config, self.device))

    @torch.no_grad()
    def export(self, run_dir: Path, export_config: ExportConfig) -> dict:
        """``run_dir/mesh/`` by ``dream3d.export.export_scene`` (it reports the level used)."""
        from dream3d.export.pipeline import export_scene

        self.eval()
        return dataclasses.asdict(export_scene(self.field, export_config, Path(run_dir), self.device,
                                               silhouettes=self.silhouettes(export_config)))
