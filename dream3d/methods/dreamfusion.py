"""DreamFusion (Poole et al. 2022, arXiv:2209.14988): SDS from a frozen prior into a NeRF.

One stage: random orbit cameras -> volume render with a random shading mode -> SDS on the
render -> + orientation, opacity, opacity-entropy and grid-TV regularisers -> Adam.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from dream3d.cameras import CameraSamplerConfig
from dream3d.config import RunConfig
from dream3d.export.config import ExportConfig
from dream3d.methods.common import DistillationConfig, distillation, image_reference, recipe_inputs, require
from dream3d.methods.prior_checks import validate_prior
from dream3d.recipe.stage import CameraSchedule, Recipe, Stage
from dream3d.render.shading import ShadingConfig
from dream3d.render.volume import VolumeRendererConfig
from dream3d.representations.nerf import NeRFOptimConfig, NeRFRepresentation, NeRFSceneConfig
from dream3d.scene.background import BackgroundConfig
from dream3d.scene.nerf import NeRFConfig


@dataclass
class NeRFLossConfig:
    """Weights of the loss terms."""

    sds: float = 1.0
    """Score distillation."""
    orientation: float = 0.01
    """DreamFusion's orientation loss: normals should face the camera."""
    opacity_sparsity: float = 0.0
    """Mean rendered opacity, discouraging floaters."""
    opacity_entropy: float = 0.0
    """Mean binary entropy of each pixel's opacity (``dream3d.render.opacity_entropy``): pushes it to 0 or 1,
    so that half-transparent density either becomes solid or goes."""
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


def validate_nerf(system: DreamFusionConfig) -> None:
    """Checks of a NeRF stage's settings that the schema cannot express."""
    for name, weight in dataclasses.asdict(system.loss).items():
        require(weight >= 0, f"system.loss.{name} must be non-negative (0 turns the term off), got {weight}.")
    require(system.loss.grid_tv == 0 or system.nerf.encoding.type == "densegrid",
            "system.loss.grid_tv needs system.nerf.encoding.type: densegrid "
            "(set system.loss.grid_tv=0 to use another encoding).")
    renderer = system.renderer
    require(1 <= renderer.n_samples <= 4096, f"system.renderer.n_samples must be in [1, 4096], got {renderer.n_samples}.")
    require(renderer.march_chunk >= 1, f"system.renderer.march_chunk must be at least 1, got {renderer.march_chunk}.")
    require(renderer.camera_chunk >= 0,
            f"system.renderer.camera_chunk must be non-negative (0: all cameras at once), got {renderer.camera_chunk}.")
    require(0.0 <= renderer.early_stop_eps < 1.0,
            f"system.renderer.early_stop_eps must be in [0, 1) (0: composite every sample), got {renderer.early_stop_eps}.")
    require(renderer.normal_min_weight >= 0.0,
            f"system.renderer.normal_min_weight must be non-negative, got {renderer.normal_min_weight}.")


def nerf_stage(system: DreamFusionConfig, steps: int) -> Stage:
    """DreamFusion's NeRF stage, scored by the ``distill`` guidance; with ``--image`` (a
    view-conditioned prior), the reference view is supervised too, as stable-dreamfusion and
    threestudio do with Zero123."""
    scene = NeRFSceneConfig(system.nerf, system.renderer, system.shading, system.background, system.optimizer)
    loss = system.loss
    reference = image_reference(system, system.camera.fovy)
    return Stage(
        name="nerf", steps=steps, representation=lambda device: NeRFRepresentation(scene, device),
        guidance="distill", cameras=CameraSchedule(system.camera), shading=system.shading,
        # SDS/VSD is the stage's guidance term; every other weight names a NeRF regulariser.
        losses={"guidance": loss.sds, **{name: weight for name, weight in dataclasses.asdict(loss).items()
                                         if name != "sds"}},
        reference=reference,
    )


def recipe(config: DreamFusionRunConfig) -> Recipe:
    steps = config.trainer.max_steps
    return Recipe(stages=[nerf_stage(config.system, steps)],
                  guidances={"distill": distillation(config.system.guidance, steps)},
                  export=config.export, **recipe_inputs(config.system))


def validate(config: DreamFusionRunConfig) -> None:
    validate_nerf(config.system)
    validate_prior(config.system, config.system.camera)
