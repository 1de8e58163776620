"""DreamGaussian (Tang et al. 2023, arXiv:2309.16653): SDS into 3D Gaussians, then a mesh.

Stage 1: SDS with a deterministic, linearly falling timestep, a render-resolution ramp
and a random white or black background, with adaptive densification (gsplat's
``DefaultStrategy``). Then the mesh is extracted from the Gaussians' local density
(``GaussianScene.density``), UV-unwrapped, and coloured by back-projecting renders.
Stage 2 (the last ``refine_steps`` steps): the textured mesh is rendered and its texture
pulled towards SDEdit targets of those renders with an MSE loss.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dream3d.cameras import CameraSampler, CameraSamplerConfig, Cameras
from dream3d.config import ConfigError, RunConfig
from dream3d.export.backproject import BackprojectConfig
from dream3d.export.config import ExportConfig
from dream3d.guidance import GuidanceConfig, build_guidance
from dream3d.guidance.schedules import TimestepConfig
from dream3d.guidance.sdedit import SDEditConfig, SDEditTargets
from dream3d.render.splat import SplatConfig, render_gaussians
from dream3d.render.types import Render
from dream3d.scene.gaussians import Densifier, GaussianConfig, GaussianScene
from dream3d.scene.textured_mesh import MeshFrame
from dream3d.systems.common import DistillationConfig, SectionTimer, load_prior_and_prompts
from dream3d.systems.texture import TextureStage, TextureStageConfig

log = logging.getLogger(__name__)


@dataclass
class DreamGaussianConfig(DistillationConfig):
    """A DreamGaussian run: Gaussians by SDS, mesh by density query, UV refinement."""

    guidance: GuidanceConfig = field(default_factory=lambda: GuidanceConfig(
        timesteps=TimestepConfig(schedule="deterministic", max_step_percent_end=0.98)))
    """Score distillation (DreamGaussian anneals t deterministically from max to min)."""
    camera: CameraSamplerConfig = field(default_factory=CameraSamplerConfig)
    """Random training cameras; height/width are replaced by the resolution ramp."""
    gaussians: GaussianConfig = field(default_factory=GaussianConfig)
    """The Gaussians, their learning rates and densification."""
    splat: SplatConfig = field(default_factory=SplatConfig)
    """Rasterisation backend."""
    resolutions: list[int] = field(default_factory=lambda: [32, 48, 64])
    """Render resolutions of the ramp, low to high."""
    resolution_milestones: list[float] = field(default_factory=lambda: [0.3, 0.6])
    """Fractions of stage 1 at which the ramp moves to the next resolution."""
    black_background_probability: float = 0.5
    """Chance of a black (instead of white) background per step."""
    backproject: BackprojectConfig = field(default_factory=BackprojectConfig)
    """Views and visibility tests that colour the mesh's texture."""
    refine_steps: int = 50
    """Stage 2 steps (the last of trainer.max_steps); 0 skips the refinement."""
    texture: TextureStageConfig = field(default_factory=TextureStageConfig)
    """How the mesh is rendered in stage 2 (cameras, shading, learning rate)."""
    sdedit: SDEditConfig = field(default_factory=SDEditConfig)
    """How stage 2's targets are made."""


@dataclass
class DreamGaussianRunConfig(RunConfig):
    """``method: dreamgaussian``."""

    system: DreamGaussianConfig = field(default_factory=DreamGaussianConfig)
    """The method's settings."""
    export: ExportConfig = field(default_factory=ExportConfig)
    """Mesh extraction (density query) and the files."""


class SDEditLoss:
    """Stage 2's objective with the guidance interface: MSE to an SDEdit target."""

    def __init__(self, targets: SDEditTargets, start_step: int, num_steps: int):
        self.targets = targets
        self.start_step = start_step
        self.num_steps = num_steps

    def loss(self, images: Tensor, cameras: Cameras, prompts, step: int) -> tuple[Tensor, dict]:
        strength = self.targets.strength(step - self.start_step, self.num_steps)
        target = self.targets(images.detach(), cameras, prompts, strength)
        return F.mse_loss(images, target), {"strength": strength}


class DreamGaussianSystem:
    """Builds and steps a DreamGaussian run; the trainer owns the loop."""

    def __init__(self, config: DreamGaussianRunConfig, device: torch.device, load_prior: bool = True):
        cfg = config.system
        max_steps = config.trainer.max_steps
        if not 0 <= cfg.refine_steps < max_steps:
            raise ConfigError(f"system.refine_steps ({cfg.refine_steps}) must be in [0, trainer.max_steps).")
        if len(cfg.resolution_milestones) != len(cfg.resolutions) - 1:
            raise ConfigError("system.resolution_milestones needs one entry fewer than system.resolutions.")
        self.config = config
        self.device = device
        self.timer = SectionTimer()
        self.scene = GaussianScene(cfg.gaussians).to(device)
        self._optimizers = self.scene.make_optimizers()
        self.densifier = Densifier(cfg.gaussians.densify, self.scene, self._optimizers)
        self.sampler = CameraSampler(cfg.camera)
        self.stage1_steps = max_steps - cfg.refine_steps
        self.texture = TextureStage(cfg.texture, config.export.texture_size, device) if cfg.refine_steps else None
        self._info: dict | None = None
        self.prior = self.prompts = self.guidance = self.refine_loss = None
        if load_prior:
            self.prior, self.prompts = load_prior_and_prompts(cfg.prior, cfg.prompt_processing, cfg.prompt, cfg.negative_prompt, device)
            self.guidance = build_guidance(self.prior, cfg.guidance, self.stage1_steps)
            if self.texture is not None:
                self.refine_loss = SDEditLoss(SDEditTargets(self.prior, cfg.sdedit), self.stage1_steps, cfg.refine_steps)

    # ------------------------------------------------------------ trainer hooks
    def modules(self) -> dict[str, nn.Module]:
        modules: dict[str, nn.Module] = {"gaussians": self.scene}
        if self.texture is not None:
            modules["texture"] = self.texture.scene
        return modules

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Per-parameter Adams (gsplat's layout), rebuilt if a checkpoint resized the scene."""
        if any(opt.param_groups[0]["params"][0] is not self.scene.params[name] for name, opt in self._optimizers.items()):
            self._optimizers = self.scene.make_optimizers()
            self.densifier = Densifier(self.config.system.gaussians.densify, self.scene, self._optimizers)
        optimizers = {f"gaussians.{k}": o for k, o in self._optimizers.items()}
        if self.texture is not None:
            optimizers["texture"] = self.texture.optimizer
        return optimizers

    def resolution(self, step: int) -> int:
        """The render resolution of the ramp at ``step``."""
        cfg = self.config.system
        progress = step / max(self.stage1_steps, 1)
        return cfg.resolutions[sum(progress >= m for m in cfg.resolution_milestones)]

    def background(self) -> Tensor:
        black = torch.rand(()) < self.config.system.black_background_probability
        return torch.full((3,), 0.0 if black else 1.0, device=self.device)

    def in_refinement(self, step: int) -> bool:
        return self.texture is not None and step >= self.stage1_steps

    def training_step(self, step: int) -> tuple[Tensor, dict]:
        if self.in_refinement(step):
            if not self.texture.scene.has_mesh:
                with self.timer.section("export"):
                    self.texture.set_mesh(*self.textured_mesh())
            return self.texture.training_loss(self.refine_loss, self.prompts, step, self.timer)
        self.scene.update_learning_rate(self._optimizers, step)
        size = self.resolution(step)
        cameras = self.sampler.sample(step).with_resolution(size, size).to(self.device)
        with self.timer.section("render"):
            render = render_gaussians(self.scene, cameras, self.background(), self.config.system.splat)
        self._info = render.extras["info"]
        self.densifier.before_backward(step, self._info)
        with self.timer.section("prior"):
            loss, stats = self.guidance.loss(render.images(), cameras, self.prompts, step)
        stats["gaussians"] = float(self.scene.num_gaussians)
        return loss, stats

    def after_step(self, step: int) -> None:
        if self.in_refinement(step) or self._info is None:
            return
        with self.timer.section("upkeep"):
            self.densifier.after_backward(step, self._info)
        self._info = None

    # ------------------------------------------------------------ views and export
    @torch.no_grad()
    def render_views(self, cameras: Cameras, shading_mode: str = "albedo") -> Render:
        if self.texture is not None and self.texture.scene.has_mesh:
            return self.texture.render_views(cameras)
        cameras = cameras.to(self.device)
        white = torch.ones(3, device=self.device)
        renders = [render_gaussians(self.scene, cameras[i], white, self.config.system.splat) for i in range(len(cameras))]
        return Render(rgb=torch.cat([r.rgb for r in renders]), alpha=torch.cat([r.alpha for r in renders]),
                      depth=torch.cat([r.depth for r in renders]))

    @torch.no_grad()
    def textured_mesh(self) -> tuple:
        """Mesh by local density query, UVs, and a back-projected texture (world frame)."""
        from dream3d.export import texel_surface_points
        from dream3d.export.backproject import backproject_texture
        from dream3d.export.pipeline import extract_mesh, unwrap

        export = self.config.export
        mesh, _ = extract_mesh(self.scene, export, self.device)
        uv_mesh = unwrap(mesh, export)
        texels = texel_surface_points(uv_mesh.vertices, uv_mesh.faces, uv_mesh.uvs, size=export.texture_size,
                                      vertex_normals=uv_mesh.normals)
        texture, _ = backproject_texture(self.scene, texels, self.config.system.backproject)
        log.info("DreamGaussian mesh: %d faces, %d Gaussians", len(uv_mesh.faces), self.scene.num_gaussians)
        return uv_mesh, MeshFrame.identity_world(), texture

    def export(self, run_dir: Path) -> dict:
        """The refined textured mesh, or (without refinement) the back-projected one."""
        if self.texture is None:
            self.texture = TextureStage(self.config.system.texture, self.config.export.texture_size, self.device)
        if not self.texture.scene.has_mesh:
            self.texture.set_mesh(*self.textured_mesh())
        return self.texture.export(Path(run_dir), self.config.export)
