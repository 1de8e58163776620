"""Texture a given mesh from text: score distillation into a UV texture through the rasteriser.

One stage on a mesh file (as the texture stage of ProlificDreamer, Wang et al. 2023, and
Fantasia3D's appearance stage): the geometry is fixed; random orbit cameras -> rasterise
-> albedo or Lambertian shading -> SDS or VSD -> Adam on the texture. The result is written
in the mesh file's own coordinates.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from dream3d.config import RunConfig
from dream3d.export.config import ExportConfig
from dream3d.guidance.sds import GuidanceConfig
from dream3d.methods.common import DistillationConfig, distillation, recipe_inputs, require
from dream3d.methods.prior_checks import validate_prior
from dream3d.recipe.stage import CameraSchedule, Recipe, Stage
from dream3d.representations.textured_mesh import TexturedMeshRepresentation, TextureStageConfig


@dataclass
class TextureConfig(DistillationConfig):
    """Texture a given mesh: prompt, prior, guidance (SDS or VSD) and the texture stage."""

    mesh_path: str = ""
    """The mesh to texture (OBJ, GLB, PLY, ...; set by --mesh)."""
    guidance: GuidanceConfig = field(default_factory=lambda: GuidanceConfig(guidance_scale=7.5))
    """Score distillation: ``type: sds`` or ``type: vsd``."""
    texture: TextureStageConfig = field(default_factory=TextureStageConfig)
    """Rendering and optimisation of the texture; how the input mesh is read."""


@dataclass
class TextureRunConfig(RunConfig):
    """``method: texture``."""

    method: str = "texture"
    """Which recipe runs."""
    system: TextureConfig = field(default_factory=TextureConfig)
    """The method's settings."""
    export: ExportConfig = field(default_factory=ExportConfig)
    """Texture size, UV padding and seam dilation of the written files."""


def texture_stage(texture: TextureStageConfig, texture_size: int, steps: int, init_from: str, mesh_file: str = "") -> Stage:
    """A stage that learns a mesh's UV texture, scored by the ``distill`` guidance."""
    return Stage(
        name="texture", steps=steps,
        representation=lambda device: TexturedMeshRepresentation(texture, texture_size, device),
        guidance="distill", cameras=CameraSchedule(texture.camera), shading=texture.shading,
        init_from=init_from, mesh_file=mesh_file,  # type: ignore[arg-type]
    )


def recipe(config: TextureRunConfig) -> Recipe:
    system, steps = config.system, config.trainer.max_steps
    stage = texture_stage(system.texture, config.export.texture_size, steps, "mesh_file", system.mesh_path)
    return Recipe(stages=[stage], guidances={"distill": distillation(system.guidance, steps)},
                  export=config.export, mesh_input=system.texture, **recipe_inputs(system))


def validate(config: TextureRunConfig) -> None:
    require(bool(config.system.mesh_path), "This config textures a given mesh: pass --mesh FILE (OBJ, GLB or PLY).")
    validate_prior(config.system, config.system.texture.camera)
