"""ProlificDreamer (Wang et al. 2023, arXiv:2305.16213): VSD into a NeRF, then the mesh's texture.

Two stages, one guidance: ``nerf`` is DreamFusion's NeRF stage with ``guidance.type: vsd``
(variational score distillation with a camera-conditioned LoRA, ``dream3d.guidance.vsd``);
``texture`` starts from the NeRF's meshed, UV-unwrapped and baked surface and refines its
texture through the mesh rasteriser, while the same LoRA keeps learning. ``--stage nerf``
runs the first stage alone; ``--stage texture --mesh FILE`` the second alone on a file. A
full run spends its last ``texture_steps`` steps in the texture stage.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dream3d.guidance.sds import GuidanceConfig
from dream3d.methods.common import distillation, recipe_inputs, require
from dream3d.methods.dreamfusion import DreamFusionConfig, DreamFusionRunConfig, nerf_stage, validate_nerf
from dream3d.methods.prior_checks import validate_prior
from dream3d.methods.texture import texture_stage
from dream3d.recipe.stage import Recipe
from dream3d.representations.textured_mesh import TextureStageConfig


@dataclass
class ProlificDreamerConfig(DreamFusionConfig):
    """DreamFusion's NeRF settings with VSD guidance, plus the texture stage."""

    guidance: GuidanceConfig = field(default_factory=lambda: GuidanceConfig(type="vsd", guidance_scale=7.5))
    """Score distillation; ProlificDreamer uses ``type: vsd`` at CFG 7.5."""
    stage: Literal["all", "nerf", "texture"] = "all"
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


def recipe(config: ProlificDreamerRunConfig) -> Recipe:
    system, total = config.system, config.trainer.max_steps
    texture_size = config.export.texture_size
    if system.stage == "nerf":
        stages = [nerf_stage(system, total)]
    elif system.stage == "texture":
        stages = [texture_stage(system.texture, texture_size, total, "mesh_file", system.mesh_path)]
    else:
        nerf_steps = total - system.texture_steps
        stages = [nerf_stage(system, nerf_steps), texture_stage(system.texture, texture_size, system.texture_steps, "previous")]
    return Recipe(stages=stages, guidances={"distill": distillation(system.guidance, total)},
                  export=config.export, mesh_input=system.texture, **recipe_inputs(system))


def validate(config: ProlificDreamerRunConfig) -> None:
    system, total = config.system, config.trainer.max_steps
    if system.stage == "all":
        require(0 < system.texture_steps < total,
                f"system.texture_steps ({system.texture_steps}) must be between 1 and trainer.max_steps - 1 "
                f"({total - 1}) in a full run; or use --stage nerf.")
    if system.stage == "texture":
        require(bool(system.mesh_path), "--stage texture refines a given mesh: pass --mesh FILE (OBJ, GLB or PLY).")
    if system.stage in ("all", "nerf"):
        validate_nerf(system)
    cameras = {"all": [system.camera, system.texture.camera], "nerf": [system.camera], "texture": [system.texture.camera]}
    validate_prior(system, *cameras[system.stage])
