"""ProlificDreamer (Wang et al. 2023, arXiv:2305.16213): VSD into a NeRF, its geometry by SDS,
then the mesh's texture by VSD.

``nerf`` is DreamFusion's NeRF stage with ``guidance.type: vsd`` (variational score
distillation with a camera-conditioned LoRA, ``dream3d.guidance.vsd``). ``geometry`` goes on
training the same NeRF for the last ``geometry_fraction`` of its steps under
``geometry_guidance``, SDS: the paper's second stage refines the geometry with SDS, not VSD
(its official code and threestudio's ``prolificdreamer-geometry`` do so on a DMTet mesh;
here the NeRF's density is refined before it is meshed). ``texture`` starts from the NeRF's
meshed, UV-unwrapped and baked surface and refines its texture through the mesh rasteriser,
while the VSD LoRA keeps learning. ``--stage nerf`` runs the NeRF stages alone;
``--stage texture --mesh FILE`` the texture stage alone on a file. A full run spends its last
``texture_steps`` steps in the texture stage.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from dream3d.guidance.sds import GuidanceConfig
from dream3d.methods.common import distillation, recipe_inputs, require
from dream3d.methods.dreamfusion import DreamFusionConfig, DreamFusionRunConfig, nerf_stage, validate_nerf
from dream3d.methods.prior_checks import validate_prior
from dream3d.methods.texture import texture_stage
from dream3d.recipe.stage import Recipe, Stage
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
    geometry_fraction: float = 0.0
    """The share of the NeRF's steps, at their end, scored by ``geometry_guidance`` instead of
    ``guidance`` (the geometry stage; 0: none). Rounded to whole steps."""
    geometry_guidance: GuidanceConfig = field(default_factory=lambda: GuidanceConfig(
        type="sds", guidance_scale=7.5, space="latent+image"))
    """The geometry stage's score distillation: SDS (HiFA's loss, as ``dreamfusion.yaml``)."""
    texture: TextureStageConfig = field(default_factory=TextureStageConfig)
    """Rendering and optimisation of the texture stage."""


@dataclass
class ProlificDreamerRunConfig(DreamFusionRunConfig):
    """``method: prolificdreamer``."""

    method: str = "prolificdreamer"
    """Which recipe runs."""
    system: ProlificDreamerConfig = field(default_factory=ProlificDreamerConfig)
    """The method's settings."""


def geometry_steps(system: ProlificDreamerConfig, nerf_steps: int) -> int:
    """How many of the NeRF's ``nerf_steps`` the geometry stage takes."""
    return round(system.geometry_fraction * nerf_steps)


def nerf_stages(system: ProlificDreamerConfig, steps: int) -> list[Stage]:
    """The VSD NeRF stage, then (with ``geometry_fraction``) the same NeRF scored by SDS."""
    geometry = geometry_steps(system, steps)
    if geometry == 0:
        return [nerf_stage(system, steps)]
    return [nerf_stage(system, steps - geometry),
            dataclasses.replace(nerf_stage(system, geometry), name="geometry", guidance="geometry", shares="nerf")]


def recipe(config: ProlificDreamerRunConfig) -> Recipe:
    system, total = config.system, config.trainer.max_steps
    texture_size = config.export.texture_size
    if system.stage == "nerf":
        stages = nerf_stages(system, total)
    elif system.stage == "texture":
        stages = [texture_stage(system.texture, texture_size, total, "mesh_file", system.mesh_path)]
    else:
        stages = [*nerf_stages(system, total - system.texture_steps),
                  texture_stage(system.texture, texture_size, system.texture_steps, "previous")]
    guidances = {"distill": distillation(system.guidance, total)}
    if any(stage.guidance == "geometry" for stage in stages):
        guidances["geometry"] = distillation(system.geometry_guidance, total)
    return Recipe(stages=stages, guidances=guidances,
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
        nerf_steps = total - (system.texture_steps if system.stage == "all" else 0)
        require(0.0 <= system.geometry_fraction < 1.0 and geometry_steps(system, nerf_steps) < nerf_steps,
                f"system.geometry_fraction ({system.geometry_fraction}) must be in [0, 1) and leave the VSD NeRF "
                f"stage at least one of the NeRF's {nerf_steps} steps.")
        require(system.geometry_guidance.type == "sds",
                f"system.geometry_guidance.type must be 'sds' (got {system.geometry_guidance.type!r}).")
        validate_nerf(system)
    cameras = {"all": [system.camera, system.texture.camera], "nerf": [system.camera], "texture": [system.texture.camera]}
    validate_prior(system, *cameras[system.stage])
