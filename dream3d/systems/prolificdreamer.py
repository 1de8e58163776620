"""ProlificDreamer (Wang et al. 2023, arXiv:2305.16213): VSD into a NeRF, then the mesh's texture.

The recipe composes existing parts, in stages that one run executes in order:

1. ``nerf``: DreamFusion's NeRF recipe (``DreamFusionSystem``) with ``guidance.type: vsd``
   (variational score distillation with a camera-conditioned LoRA, ``dream3d.guidance.vsd``);
2. export: the NeRF's surface is meshed, UV-unwrapped and its albedo baked (``dream3d.export``);
3. ``texture``: the baked UV texture is refined with VSD through the mesh rasteriser
   (``dream3d.systems.texture.TextureStage``); the same LoRA keeps learning on mesh renders.

``--stage nerf`` runs stage 1 alone (and exports its mesh); ``--stage texture --mesh FILE``
runs stage 3 alone on a given mesh. A full run spends its last ``texture_steps`` steps in
stage 3; the mesh, once made, lives in the checkpoint, so resuming and ``--export`` work in
either stage.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from dream3d.cameras import Cameras
from dream3d.config import ConfigError
from dream3d.guidance import GuidanceConfig, build_guidance
from dream3d.render.types import Render
from dream3d.scene.textured_mesh import MeshFrame
from dream3d.systems.common import SectionTimer, guidance_modules, guidance_optimizers, load_prior_and_prompts
from dream3d.systems.dreamfusion import DreamFusionConfig, DreamFusionRunConfig, DreamFusionSystem
from dream3d.systems.texture import TextureStage, TextureStageConfig, prepare_input_mesh

log = logging.getLogger(__name__)

STAGES = ("all", "nerf", "texture")


@dataclass
class ProlificDreamerConfig(DreamFusionConfig):
    """DreamFusion's NeRF settings with VSD guidance, plus the texture stage."""

    guidance: GuidanceConfig = field(default_factory=lambda: GuidanceConfig(type="vsd", guidance_scale=7.5))
    """Score distillation; ProlificDreamer uses ``type: vsd`` at CFG 7.5."""
    stage: str = "all"
    """``all`` (nerf, export, texture in one run), ``nerf`` or ``texture`` (set by --stage)."""
    mesh_path: str = ""
    """The mesh that ``stage: texture`` refines (set by --mesh)."""
    texture_steps: int = 200
    """In a full run, the last this-many of ``trainer.max_steps`` refine the texture."""
    texture: TextureStageConfig = field(default_factory=TextureStageConfig)
    """Rendering and optimisation of the texture stage."""


@dataclass
class ProlificDreamerRunConfig(DreamFusionRunConfig):
    """``method: prolificdreamer``."""

    method: str = "prolificdreamer"
    """Which recipe runs."""
    system: ProlificDreamerConfig = field(default_factory=ProlificDreamerConfig)
    """The method's settings."""


class ProlificDreamerSystem:
    """Runs the NeRF stage, the mesh export and the texture stage; the trainer owns the loop."""

    def __init__(self, config: ProlificDreamerRunConfig, device: torch.device, load_prior: bool = True):
        cfg = config.system
        if cfg.stage not in STAGES:
            raise ConfigError(f"system.stage must be one of {', '.join(STAGES)}, got '{cfg.stage}'.")
        max_steps = config.trainer.max_steps
        if cfg.stage == "all" and not 0 < cfg.texture_steps < max_steps:
            raise ConfigError(f"system.texture_steps ({cfg.texture_steps}) must be between 1 and "
                              f"trainer.max_steps - 1 ({max_steps - 1}) in a full run; or use --stage nerf.")
        self.config = config
        self.device = device
        self.timer = SectionTimer()
        self.nerf = self.texture = None
        self.prior = self.prompts = self.guidance = None
        if cfg.stage in ("all", "nerf"):
            self.nerf = DreamFusionSystem(config, device, load_prior=load_prior)
            self.nerf.timer = self.timer
            self.prior, self.prompts, self.guidance = self.nerf.prior, self.nerf.prompts, self.nerf.guidance
        if cfg.stage in ("all", "texture"):
            self.texture = TextureStage(cfg.texture, config.export.texture_size, device)
        if cfg.stage == "texture" and load_prior:
            self.texture.set_mesh(*prepare_input_mesh(cfg.mesh_path, cfg.texture, config.export))
            self.prior, self.prompts = load_prior_and_prompts(cfg.prior, cfg.prompt_processing, cfg.prompt,
                                                              cfg.negative_prompt, device)
            self.guidance = build_guidance(self.prior, cfg.guidance, max_steps)
        self.texture_start = {"all": max_steps - cfg.texture_steps, "nerf": max_steps, "texture": 0}[cfg.stage]

    # ------------------------------------------------------------ trainer hooks
    def modules(self) -> dict[str, nn.Module]:
        """The NeRF (and the guidance's LoRA), and the textured mesh, as each stage has them."""
        modules: dict[str, nn.Module] = dict(self.nerf.modules()) if self.nerf is not None else {}
        if self.texture is not None:
            modules["texture"] = self.texture.scene
        if self.nerf is None:
            modules.update(guidance_modules(self.guidance))
        return modules

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """All optimizers, fixed for the run; a stage's parameters get no gradient outside it."""
        optimizers: dict[str, torch.optim.Optimizer] = dict(self.nerf.optimizers()) if self.nerf is not None else {}
        if self.texture is not None:
            optimizers["texture"] = self.texture.optimizer
        if self.nerf is None:
            optimizers.update(guidance_optimizers(self.guidance))
        return optimizers

    def in_texture_stage(self, step: int) -> bool:
        return self.texture is not None and step >= self.texture_start

    def training_step(self, step: int) -> tuple[torch.Tensor, dict]:
        """A NeRF step, or a texture step (making the mesh from the NeRF on the first one)."""
        if not self.in_texture_stage(step):
            return self.nerf.training_step(step)
        if not self.texture.scene.has_mesh:
            with self.timer.section("export"):
                self.mesh_from_nerf()
        return self.texture.training_loss(self.guidance, self.prompts, step, self.timer)

    def after_step(self, step: int) -> None:
        if not self.in_texture_stage(step):
            self.nerf.after_step(step)

    @torch.no_grad()
    def mesh_from_nerf(self) -> None:
        """Stage 2: mesh, UVs and baked albedo of the NeRF become the texture stage's start."""
        from dream3d.export.pipeline import bake, extract_mesh, unwrap

        export = self.config.export
        self.nerf.renderer.eval()
        mesh, _ = extract_mesh(self.nerf.field, export, self.device)
        uv_mesh = unwrap(mesh, export)
        texture = bake(self.nerf.field, uv_mesh, export, self.device)
        self.texture.set_mesh(uv_mesh, MeshFrame.identity_world(), texture)
        log.info("Texture stage: %d faces, %dx%d texture", len(uv_mesh.faces), export.texture_size, export.texture_size)

    def _texture_ready(self) -> bool:
        return self.texture is not None and self.texture.scene.has_mesh

    def render_views(self, cameras: Cameras, shading_mode: str = "albedo") -> Render:
        """Renders of the textured mesh once it exists, else of the NeRF."""
        if self._texture_ready():
            return self.texture.render_views(cameras)
        return self.nerf.render_views(cameras, shading_mode)

    def export(self, run_dir: Path) -> dict:
        """The refined textured mesh once the texture stage has run, else the NeRF's export."""
        if self._texture_ready():
            return self.texture.export(Path(run_dir), self.config.export)
        if self.nerf is None:
            from dream3d.export import ExportError

            raise ExportError("This texture-stage run has no mesh in its checkpoint.")
        return self.nerf.export(Path(run_dir))
