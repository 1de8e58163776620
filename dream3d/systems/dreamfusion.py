"""DreamFusion (Poole et al. 2022): SDS from a frozen prior into a NeRF.

The recipe: random orbit cameras -> volume render with a random shading mode -> SDS on
the render -> + orientation and opacity regularisers -> Adam.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from dream3d.cameras import CameraSampler, CameraSamplerConfig, Cameras
from dream3d.config import RunConfig
from dream3d.export.config import ExportConfig
from dream3d.guidance import build_guidance
from dream3d.render.shading import ShadingConfig, sample_mode
from dream3d.render.types import Render
from dream3d.render.volume import VolumeRendererConfig
from dream3d.render.volume_backend import build_volume_renderer
from dream3d.scene.background import Background, BackgroundConfig
from dream3d.scene.initial_shape import fit_initial_shape
from dream3d.scene.nerf import NeRFConfig, NeRFField
from dream3d.systems.common import (
    DistillationConfig, SectionTimer, guidance_modules, guidance_optimizers, load_prior_and_prompts,
)


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
class NeRFLossConfig:
    """Weights of the loss terms."""

    sds: float = 1.0
    """Score distillation."""
    orientation: float = 0.01
    """DreamFusion's orientation loss: normals should face the camera."""
    opacity_sparsity: float = 0.0
    """Mean rendered opacity, discouraging floaters."""
    grid_tv: float = 0.0
    """Total variation of the dense grid's features (smooths voxel-scale bumps; dense grid only)."""


@dataclass
class DreamFusionConfig(DistillationConfig):
    """A DreamFusion run: prompt, prior, guidance and the NeRF scene."""

    camera: CameraSamplerConfig = field(default_factory=CameraSamplerConfig)
    """Random training cameras (and render resolution)."""
    nerf: NeRFConfig = field(default_factory=NeRFConfig)
    """The NeRF field."""
    renderer: VolumeRendererConfig = field(default_factory=VolumeRendererConfig)
    """Ray sampling and compositing."""
    shading: ShadingConfig = field(default_factory=ShadingConfig)
    """Shading modes and light."""
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    """What the scene is composited over."""
    optimizer: NeRFOptimConfig = field(default_factory=NeRFOptimConfig)
    """Learning rates."""
    loss: NeRFLossConfig = field(default_factory=NeRFLossConfig)
    """Loss weights."""


@dataclass
class DreamFusionRunConfig(RunConfig):
    """``method: dreamfusion``."""

    system: DreamFusionConfig = field(default_factory=DreamFusionConfig)
    """The method's settings."""
    export: ExportConfig = field(default_factory=ExportConfig)
    """Mesh extraction and texturing at the end."""


class DreamFusionSystem:
    """Builds and steps a DreamFusion run; the trainer owns the loop."""

    def __init__(self, config: DreamFusionRunConfig, device: torch.device, load_prior: bool = True):
        cfg = config.system
        self.config = config
        self.device = device
        self.timer = SectionTimer()
        self.field = NeRFField(cfg.nerf).to(device)
        if cfg.loss.grid_tv > 0 and not hasattr(self.field.encoding, "total_variation"):
            raise ValueError(
                "system.loss.grid_tv needs system.nerf.encoding.type: densegrid "
                "(set system.loss.grid_tv=0 to use another encoding)"
            )
        fit_initial_shape(self.field, cfg.nerf.initial_shape)
        self.background = Background(cfg.background).to(device)
        self.renderer = build_volume_renderer(self.field, self.background, cfg.renderer, cfg.shading).to(device)
        self.sampler = CameraSampler(cfg.camera)
        self.prior = self.prompts = self.guidance = None
        if load_prior:
            self.prior, self.prompts = load_prior_and_prompts(cfg.prior, cfg.prompt_processing, cfg.prompt, cfg.negative_prompt, device)
            self.guidance = build_guidance(self.prior, cfg.guidance, config.trainer.max_steps)
        opt = cfg.optimizer
        groups = [
            {"params": list(self.field.encoding.parameters()), "lr": opt.encoding_lr, "name": "encoding"},
            {"params": list(self.field.mlp.parameters()), "lr": opt.network_lr, "name": "network"},
        ]
        background_params = list(self.background.parameters())
        if background_params:
            groups.append({"params": background_params, "lr": opt.background_lr, "name": "background"})
        self.optimizer = torch.optim.Adam(groups, betas=opt.betas, eps=opt.eps)

    # ------------------------------------------------------------ trainer hooks
    def modules(self) -> dict[str, nn.Module]:
        """Everything whose state is checkpointed (the occupancy grid lives in the renderer).

        A guidance with trainable state (VSD's LoRA) adds its own modules and optimizers."""
        return {"renderer": self.renderer, **guidance_modules(self.guidance)}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"scene": self.optimizer, **guidance_optimizers(self.guidance)}

    def training_step(self, step: int) -> tuple[torch.Tensor, dict]:
        """Loss of one step (forward only; the trainer does backward and the optimizer)."""
        cfg = self.config.system
        self.renderer.train()
        cameras = self.sampler.sample(step).to(self.device)
        mode = sample_mode(cfg.shading)
        with self.timer.section("render"):
            render = self.renderer(cameras, mode)
        with self.timer.section("prior"):
            sds, stats = self.guidance.loss(render.images(), cameras, self.prompts, step)
        loss = cfg.loss.sds * sds
        if cfg.loss.orientation > 0 and "orientation" in render.extras:
            loss = loss + cfg.loss.orientation * render.extras["orientation"]
            stats["orient"] = float(render.extras["orientation"].detach())
        if cfg.loss.grid_tv > 0:
            tv = self.field.encoding.total_variation()
            loss = loss + cfg.loss.grid_tv * tv
            stats["tv"] = float(tv.detach())
        if cfg.loss.opacity_sparsity > 0:
            loss = loss + cfg.loss.opacity_sparsity * render.alpha.mean()
        stats["opacity"] = float(render.alpha.detach().mean())
        return loss, stats

    def after_step(self, step: int) -> None:
        with self.timer.section("upkeep"):
            self.renderer.update(step)

    @torch.no_grad()
    def render_views(self, cameras: Cameras, shading_mode: str = "albedo") -> Render:
        """Evaluation renders (previews, turntable)."""
        self.renderer.eval()
        cameras = cameras.to(self.device)
        renders = [self.renderer(cameras[i : i + 1], shading_mode) for i in range(len(cameras))]
        return Render(
            rgb=torch.cat([r.rgb for r in renders]),
            alpha=torch.cat([r.alpha for r in renders]),
            depth=torch.cat([r.depth for r in renders]),
        )

    def export(self, run_dir: Path) -> dict:
        """Mesh, UVs and baked texture of the field into ``run_dir/mesh`` (see dream3d.export)."""
        from dream3d.export.pipeline import export_scene

        self.renderer.eval()
        result = export_scene(self.field, self.config.export, Path(run_dir), self.device)
        return dataclasses.asdict(result)
