"""DreamGaussian (Tang et al. 2023, arXiv:2309.16653): SDS into 3D Gaussians, then a refined mesh.

Stage ``gaussians``: SDS with a deterministic, linearly falling timestep, a render-resolution
ramp and a random white or black background, with adaptive densification (gsplat's
``DefaultStrategy``). Stage ``refine`` (the last ``refine_steps`` steps) starts from the mesh
of the Gaussians (their density level, or by default the cleaned solid inside their silhouette
hull: ``export.surface``) with a back-projected texture, and pulls the texture towards
SDEdit targets of its renders with an MSE loss.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from dream3d.cameras import CameraSamplerConfig
from dream3d.config import RunConfig
from dream3d.export.backproject import BackprojectConfig
from dream3d.export.config import ExportConfig
from dream3d.guidance.schedules import TimestepConfig
from dream3d.guidance.sdedit import SDEditConfig, SDEditGuidance
from dream3d.guidance.sds import GuidanceConfig
from dream3d.methods.common import DistillationConfig, distillation, image_reference, recipe_inputs, require
from dream3d.methods.prior_checks import validate_prior
from dream3d.recipe.stage import CameraSchedule, Recipe, Stage
from dream3d.render.shading import ShadingConfig
from dream3d.render.splat import SplatConfig
from dream3d.representations.gaussians import GaussianRepresentation, GaussianSceneConfig
from dream3d.representations.textured_mesh import TexturedMeshRepresentation, TextureStageConfig
from dream3d.scene.gaussians import GaussianConfig


@dataclass
class DreamGaussianConfig(DistillationConfig):
    """A DreamGaussian run: Gaussians by SDS, a mesh of them, UV refinement. With
    ``--image`` and a view-conditioned prior, DreamGaussian's image mode: Zero123 SDS on
    views around the input image's camera, plus the reference view's loss."""

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
    shading: Optional[ShadingConfig] = None
    """Chances of DreamFusion's albedo / lambertian / textureless renders in the Gaussian stage
    (``probabilities`` only: the light is the one fixed light of ``dream3d.render.light``, the
    normals come from the rendered depth). None renders albedo only, as DreamGaussian does; with
    the bundled prior, shading did not change which shapes form
    (``benchmarks/dreamgaussian-quality-experiments.md``)."""
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
    """Mesh extraction (density, or the solid inside the silhouette hull) and the files."""


def recipe(config: DreamGaussianRunConfig) -> Recipe:
    system = config.system
    gaussian_steps = config.trainer.max_steps - system.refine_steps
    scene = GaussianSceneConfig(system.gaussians, system.splat, system.backproject, system.black_background_probability)
    # image-to-3D (DreamGaussian's image mode): the reference view is supervised in both stages
    reference = image_reference(system, system.camera.fovy)
    stages = [Stage(
        name="gaussians", steps=gaussian_steps, representation=lambda device: GaussianRepresentation(scene, device),
        guidance="distill", cameras=CameraSchedule(system.camera, list(system.resolutions), list(system.resolution_milestones)),
        shading=system.shading, reference=reference,
    )]
    guidances = {"distill": distillation(system.guidance, gaussian_steps)}
    if system.refine_steps:
        texture, size = system.texture, config.export.texture_size
        stages.append(Stage(
            name="refine", steps=system.refine_steps,
            representation=lambda device: TexturedMeshRepresentation(texture, size, device),
            guidance="sdedit", cameras=CameraSchedule(texture.camera), shading=texture.shading, init_from="previous",
            reference=reference,
        ))
        guidances["sdedit"] = lambda prior: SDEditGuidance(prior, system.sdedit, gaussian_steps, system.refine_steps)
    return Recipe(stages=stages, guidances=guidances, export=config.export, **recipe_inputs(system))


def validate(config: DreamGaussianRunConfig) -> None:
    system = config.system
    require(0 <= system.refine_steps < config.trainer.max_steps,
            f"system.refine_steps ({system.refine_steps}) must be in [0, trainer.max_steps).")
    require(len(system.resolution_milestones) == len(system.resolutions) - 1,
            "system.resolution_milestones needs one entry fewer than system.resolutions.")
    require(all(8 <= r <= 1024 for r in system.resolutions),
            f"system.resolutions must lie in [8, 1024] pixels, got {list(system.resolutions)}.")
    require(0.0 <= system.splat.early_stop_eps < 1.0,
            f"system.splat.early_stop_eps must be in [0, 1), got {system.splat.early_stop_eps}.")
    validate_prior(system, system.camera, *([system.texture.camera] if system.refine_steps else []))
