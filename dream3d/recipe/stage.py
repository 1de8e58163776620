"""A method as data: a ``Recipe`` is an ordered list of ``Stage``s and the guidances they use.

Each stage names its representation (a builder), the guidance that scores it, the weights
of its loss terms, its step count, its cameras and shading, and what it takes from the stage
before. DreamFusion is one stage; ProlificDreamer is NeRF (VSD) -> the same NeRF (SDS, its
geometry phase) -> textured mesh; DreamGaussian is Gaussians -> textured mesh (refinement);
texturing is one textured-mesh stage on a file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Optional

import torch

from dream3d.cameras import CameraSampler, CameraSamplerConfig, Cameras
from dream3d.export.config import ExportConfig
from dream3d.guidance.reference import ReferenceTarget
from dream3d.image_input import ImageInputConfig
from dream3d.interfaces import Guidance, Prior, Representation
from dream3d.prior.config import PriorConfig
from dream3d.prior.prompts import PromptConfig
from dream3d.render.shading import ShadingConfig

InitFrom = Literal["scratch", "previous", "mesh_file"]
"""Where a stage's representation starts: its own initialisation, the textured mesh of the
stage before (``Representation.to_mesh``), or a mesh file given by the user."""


@dataclass
class CameraSchedule:
    """Random training cameras, optionally with a render-resolution ramp (DreamGaussian)."""

    sampler: CameraSamplerConfig
    resolutions: list[int] = field(default_factory=list)
    """Render resolutions of the ramp, low to high (empty: the sampler's own resolution)."""
    milestones: list[float] = field(default_factory=list)
    """Fractions of the stage at which the ramp moves to the next resolution."""

    def resolution(self, progress: float) -> int | None:
        """The ramp's resolution at ``progress`` in [0,1] of the stage (None without a ramp)."""
        if not self.resolutions:
            return None
        return self.resolutions[sum(progress >= m for m in self.milestones)]

    def sample(self, step: int, progress: float) -> Cameras:
        cameras = CameraSampler(self.sampler).sample(step)
        size = self.resolution(progress)
        return cameras if size is None else cameras.with_resolution(size, size)


@dataclass
class Stage:
    """One stage of a recipe (see module docstring)."""

    name: str
    steps: int
    representation: Callable[[torch.device], Representation]
    """Builds the stage's representation (cheap: no prior is needed)."""
    guidance: str
    """Key of the ``Recipe.guidances`` entry that scores this stage."""
    cameras: CameraSchedule
    shading: Optional[ShadingConfig] = None
    """Shading modes drawn per step; None renders albedo without a draw (Gaussians)."""
    losses: dict[str, float] = field(default_factory=lambda: {"guidance": 1.0})
    """Weights of ``guidance`` and of the representation's regularisers, by name."""
    init_from: InitFrom = "scratch"
    mesh_file: str = ""
    """The file a ``mesh_file`` stage starts from."""
    reference: Optional[ReferenceTarget] = None
    """Image-to-3D: each step also renders the reference camera and adds the reference loss."""
    shares: str = ""
    """The name of an earlier stage whose representation (with its optimizers) this stage goes
    on training under another guidance or loss; empty: a representation of its own."""


@dataclass
class Recipe:
    """Stages in order, the guidances by key, and what every stage shares."""

    stages: list[Stage]
    guidances: dict[str, Callable[[Prior], Guidance]]
    prior: PriorConfig
    prompt: str
    negative_prompt: str
    prompt_processing: PromptConfig
    export: ExportConfig
    mesh_input: object = None
    """How mesh files are read (a ``TextureStageConfig``), for ``mesh_file`` stages."""
    image: Optional[ImageInputConfig] = None
    """The input image of image-to-3D (the condition of a view-conditioned prior)."""

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for stage in self.stages:
            if stage.name in seen:
                raise ValueError(f"Two stages are named {stage.name!r}")
            if stage.shares and (stage.shares not in seen or stage.init_from != "scratch"):
                raise ValueError(f"Stage {stage.name!r} shares {stage.shares!r}, which must be an earlier stage "
                                 "(and a sharing stage has nothing to start from)")
            seen.add(stage.name)

    @property
    def total_steps(self) -> int:
        return sum(stage.steps for stage in self.stages)

    def owners(self) -> list[Stage]:
        """The stages that own a representation (all but the sharing ones)."""
        return [stage for stage in self.stages if not stage.shares]

    def starts(self) -> list[int]:
        """The global step at which each stage starts."""
        starts, total = [], 0
        for stage in self.stages:
            starts.append(total)
            total += stage.steps
        return starts
