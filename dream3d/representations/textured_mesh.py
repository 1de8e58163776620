"""A textured mesh of fixed geometry as a ``Representation``: only its UV texture is learned.

As in ProlificDreamer's texture stage (Wang et al. 2023) and Fantasia3D's appearance stage:
the mesh is rasterised, shaded (albedo or Lambertian with a jittered light) over a plain
background, supersampled and averaged down; gradients reach the texture logits. The mesh
comes from the stage before (``set_mesh``) or from a file, and lives in the state, so
resuming and re-exporting work in this stage.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dream3d.cameras import Cameras, CameraSamplerConfig
from dream3d.export.config import ExportConfig
from dream3d.interfaces import MeshAsset, RenderMode
from dream3d.render.mesh_raster import render_mesh
from dream3d.render.shading import ShadingConfig, light_directions, shade
from dream3d.render.types import Render
from dream3d.scene.textured_mesh import TexturedMeshScene, resize_texture


@dataclass
class TextureStageConfig:
    """Optimising a mesh's UV texture by score distillation."""

    camera: CameraSamplerConfig = field(default_factory=CameraSamplerConfig)
    """Random training cameras and the render resolution (before supersampling)."""
    shading: ShadingConfig = field(default_factory=lambda: ShadingConfig(probabilities=(0.5, 0.5, 0.0)))
    """Chance of (albedo, lambertian, textureless) renders; textureless teaches the texture nothing."""
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """Colour behind the mesh."""
    supersample: int = 2
    """Rasterise at this multiple of the resolution and average down (anti-aliasing)."""
    lr: float = 0.03
    """Adam learning rate of the texture logits."""
    init_color: tuple[float, float, float] = (0.5, 0.5, 0.5)
    """Starting albedo where no texture is given."""
    rasterizer: Literal["auto", "torch", "nvdiffrast"] = "auto"
    """``auto`` (nvdiffrast on CUDA when installed), ``torch`` or ``nvdiffrast``."""
    up_axis: Literal["y", "z"] = "y"
    """Up axis of an input mesh file: ``y`` (glTF and most OBJ) or ``z``."""
    radius: float = 0.7
    """Radius of the sphere an input mesh is scaled into (world units; cameras frame ~0.9)."""
    max_faces: int = 50000
    """Input meshes with more faces are decimated to this many, with a warning (0 = never). UV
    unwrapping (xatlas) time grows faster than the face count: 50k faces take seconds on a CPU,
    100k took minutes."""
    reuse_uvs: bool = True
    """Keep an input mesh's own UVs when they lie in the unit square (else unwrap with xatlas)."""
    use_input_texture: bool = True
    """Start from an input mesh's own texture image when its UVs are kept."""


class TexturedMeshRepresentation(nn.Module):
    """Fixed geometry and a learned texture (state: ``TexturedMeshScene``, mesh included)."""

    fixed_geometry: bool = True
    """Its export writes the mesh it holds: the options that make a mesh do not apply."""
    regulariser_names: tuple[str, ...] = ()

    def __init__(self, config: TextureStageConfig, texture_size: int, device: torch.device):
        super().__init__()
        self.config = config
        self.device = device
        self.scene = TexturedMeshScene(texture_size, config.init_color).to(device)
        self.optimizer = torch.optim.Adam([self.scene.texture_logits], lr=config.lr, betas=(0.9, 0.99))

    @property
    def ready(self) -> bool:
        """Whether a mesh has been installed (by the stage before, or from a file)."""
        return self.scene.has_mesh

    def set_mesh(self, asset: MeshAsset) -> None:
        self.scene.set_mesh(asset.mesh, asset.frame, asset.texture)

    def render(self, cameras: Cameras, mode: RenderMode = "albedo") -> Render:
        """Shaded renders ``rgb [B,H,W,3]`` over the background; the light is jittered in training."""
        cfg = self.config
        k = max(int(cfg.supersample), 1)
        big = cameras.to(self.device).with_resolution(cameras.height * k, cameras.width * k)
        raw = render_mesh(self.scene.renderable(), big, background=0.0, backend=cfg.rasterizer)
        light = light_directions(big, cfg.shading, self.training)[:, None, None, :]  # [B,1,1,3]
        colour = shade(raw.rgb, raw.normal, light, mode, cfg.shading)  # [B,kH,kW,3]
        background = torch.tensor(cfg.background, dtype=colour.dtype, device=colour.device)
        rgb = raw.alpha * colour + (1.0 - raw.alpha) * background
        alpha, depth = raw.alpha, raw.depth
        if k > 1:
            def pool(x: Tensor) -> Tensor:
                return F.avg_pool2d(x.permute(0, 3, 1, 2), k).permute(0, 2, 3, 1)

            rgb, alpha = pool(rgb), pool(alpha)
            depth = None if depth is None else pool(depth)
        return Render(rgb=rgb, alpha=alpha, depth=depth, extras={"coverage": alpha.mean()})

    def regularisers(self, render: Render, names: tuple[str, ...]) -> dict[str, Tensor]:
        return {}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.optimizer}

    def before_backward(self, step: int, render: Render) -> None:
        """Nothing to prepare: the geometry is fixed."""

    def upkeep(self, step: int, render: Render) -> None:
        """Nothing to maintain: the geometry is fixed."""

    @torch.no_grad()
    def to_mesh(self, export_config: ExportConfig) -> MeshAsset:
        return MeshAsset(self.scene.uv_mesh(), self.scene.frame(), self.scene.texture().float().cpu())

    def export(self, run_dir: Path, export_config: ExportConfig) -> dict:
        """OBJ+MTL+PNG and GLB in the mesh's source coordinates, and a preview."""
        from dream3d.export.asset import write_mesh_asset

        asset = self.to_mesh(export_config)
        texture = resize_texture(asset.texture, export_config.texture_size)  # a checkpoint's may differ
        return write_mesh_asset(asset.mesh, asset.frame, texture, Path(run_dir), export_config)
