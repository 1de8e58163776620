"""Texture a given mesh from text: score distillation into a UV texture through the rasteriser.

The recipe (as the texture stage of ProlificDreamer, Wang et al. 2023, and of Fantasia3D's
appearance stage): the geometry is fixed; random orbit cameras -> rasterise the textured
mesh -> albedo or Lambertian shading -> SDS or VSD on the render -> Adam on the texture.

``TextureStage`` is the reusable part (``method: prolificdreamer`` runs it on the mesh its
NeRF stage exported); ``TextureSystem`` is ``method: texture``: read a mesh file, normalise
it into the unit sphere, texture it, write OBJ/GLB back in the file's own coordinates.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dream3d.cameras import Cameras, CameraSampler, CameraSamplerConfig
from dream3d.config import RunConfig
from dream3d.export.config import ExportConfig
from dream3d.export.types import Mesh, UVMesh
from dream3d.guidance import GuidanceConfig, build_guidance
from dream3d.render.mesh_raster import render_mesh
from dream3d.render.shading import ShadingConfig, light_directions, sample_mode, shade
from dream3d.render.types import Render
from dream3d.scene.textured_mesh import MeshFrame, TexturedMeshScene, normalise, read_mesh_file, uvs_usable
from dream3d.systems.common import (
    DistillationConfig, SectionTimer, guidance_modules, guidance_optimizers, load_prior_and_prompts,
)

log = logging.getLogger(__name__)


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
    rasterizer: str = "auto"
    """``auto`` (nvdiffrast on CUDA when installed), ``torch`` or ``nvdiffrast``."""
    up_axis: str = "y"
    """Up axis of an input mesh file: ``y`` (glTF and most OBJ) or ``z``."""
    radius: float = 0.7
    """Radius of the sphere an input mesh is scaled into (world units; cameras frame ~0.9)."""
    max_faces: int = 100000
    """Input meshes with more faces are decimated to this many, with a warning (0 = never)."""
    reuse_uvs: bool = True
    """Keep an input mesh's own UVs when they lie in the unit square (else unwrap with xatlas)."""
    use_input_texture: bool = True
    """Start from an input mesh's own texture image when its UVs are kept."""


def seamless_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Vertex normals ``[V,3]`` computed with coincident vertices merged (no seams at UV cuts)."""
    from dream3d.export.uv import vertex_normals

    unique, inverse = np.unique(np.round(vertices, 6), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    return vertex_normals(Mesh(unique.astype(np.float32), inverse[faces]))[inverse]


def prepare_input_mesh(path: str, config: TextureStageConfig, export: ExportConfig) -> tuple[UVMesh, MeshFrame, Tensor | None]:
    """Read, check, normalise, decimate if huge and UV-map a mesh file.

    Returns the mesh in normalised world, its frame, and an initial texture ``[H,W,3]`` in
    [0,1] when the file's own texture is kept. Bad input raises ``MeshInputError``.
    """
    from dream3d.export.cleanup import cleanup_mesh
    from dream3d.export.uv import unwrap_uv

    source = read_mesh_file(path)
    vertices, faces, uvs, image = source.vertices, source.faces, source.uvs, source.texture
    if config.max_faces and len(faces) > config.max_faces:
        log.warning("The mesh '%s' has %d faces; decimating it to %d (system.texture.max_faces). "
                    "Its UVs and texture are dropped.", path, len(faces), config.max_faces)
        reduced = cleanup_mesh(Mesh(vertices, faces), min_component_fraction=0.0, merge_distance=0.0,
                               target_faces=config.max_faces)
        vertices, faces, uvs, image = reduced.vertices, reduced.faces, None, None
    vertices, frame = normalise(vertices, config.up_axis, config.radius)
    if config.reuse_uvs and uvs_usable(uvs):
        mesh = UVMesh(vertices, faces, uvs, seamless_normals(vertices, faces), np.arange(len(vertices)))
    else:
        if uvs is not None:
            log.info("The mesh's UVs leave the unit square; unwrapping it again with xatlas.")
        mesh = unwrap_uv(Mesh(vertices, faces), export.texture_size, export.uv_padding)
        image = None
    texture = None
    if image is not None and config.use_input_texture:
        texture = torch.from_numpy(np.array(image, dtype=np.float32)) / 255.0
    log.info("Input mesh: %d vertices, %d faces, scale %.4g", len(mesh.vertices), len(mesh.faces), frame.scale)
    return mesh, frame, texture


class TextureStage:
    """A textured mesh, its Adam, and how it is rendered and scored (one step per call)."""

    def __init__(self, config: TextureStageConfig, texture_size: int, device: torch.device):
        self.config = config
        self.device = device
        self.scene = TexturedMeshScene(texture_size, config.init_color).to(device)
        self.sampler = CameraSampler(config.camera)
        self.optimizer = torch.optim.Adam([self.scene.texture_logits], lr=config.lr, betas=(0.9, 0.99))

    def set_mesh(self, mesh: UVMesh, frame: MeshFrame, texture: Tensor | None = None) -> None:
        self.scene.set_mesh(mesh, frame, texture)

    def render(self, cameras: Cameras, mode: str = "albedo", jitter: bool = False) -> Render:
        """Shaded renders ``rgb [B,H,W,3]`` over the background; gradients reach the texture."""
        cfg = self.config
        k = max(int(cfg.supersample), 1)
        big = cameras.to(self.device).with_resolution(cameras.height * k, cameras.width * k)
        raw = render_mesh(self.scene.renderable(), big, background=0.0, backend=cfg.rasterizer)
        light = light_directions(big, cfg.shading, jitter)[:, None, None, :]  # [B,1,1,3]
        colour = shade(raw.rgb, raw.normal, light, mode, cfg.shading)  # [B,kH,kW,3]
        background = torch.tensor(cfg.background, dtype=colour.dtype, device=colour.device)
        rgb = raw.alpha * colour + (1.0 - raw.alpha) * background
        alpha, depth = raw.alpha, raw.depth
        if k > 1:
            def pool(x: Tensor) -> Tensor:
                return F.avg_pool2d(x.permute(0, 3, 1, 2), k).permute(0, 2, 3, 1)

            rgb, alpha = pool(rgb), pool(alpha)
            depth = None if depth is None else pool(depth)
        return Render(rgb=rgb, alpha=alpha, depth=depth)

    def training_loss(self, guidance, prompts, step: int, timer: SectionTimer) -> tuple[Tensor, dict]:
        """Score-distillation loss of one random view (forward only)."""
        cameras = self.sampler.sample(step).to(self.device)
        mode = sample_mode(self.config.shading)
        with timer.section("render"):
            render = self.render(cameras, mode, jitter=True)
        with timer.section("prior"):
            loss, stats = guidance.loss(render.images(), cameras, prompts, step)
        stats["coverage"] = float(render.alpha.mean())
        return loss, stats

    @torch.no_grad()
    def render_views(self, cameras: Cameras) -> Render:
        """Albedo renders for previews and turntables, one camera at a time."""
        renders = [self.render(cameras[i : i + 1], "albedo") for i in range(len(cameras))]
        depth = None if renders[0].depth is None else torch.cat([r.depth for r in renders])
        return Render(rgb=torch.cat([r.rgb for r in renders]), alpha=torch.cat([r.alpha for r in renders]), depth=depth)

    @torch.no_grad()
    def export(self, run_dir: Path, config: ExportConfig) -> dict:
        """``run_dir/mesh/``: OBJ+MTL+PNG and GLB in the input's coordinates, and a preview."""
        from dream3d.export import ExportError, fill_seams, texel_surface_points, write_export
        from dream3d.export.preview import write_preview

        scene = self.scene
        if not scene.has_mesh:
            raise ExportError("The texture stage has no mesh yet: nothing to export.")
        texture = scene.texture().float().cpu()  # [S,S,3]
        mesh = scene.uv_mesh()
        texels = texel_surface_points(mesh.vertices, mesh.faces, mesh.uvs, size=scene.texture_size)
        texture = fill_seams(texture, texels.mask, config.dilation)
        result = write_export(scene.file_mesh(), texture, Path(run_dir), dataclasses.replace(config, preview=False))
        if config.preview:
            write_preview(result.mesh_dir / "preview.png", mesh, texture, config.preview_size)
        return {
            "obj": str(result.obj), "glb": str(result.glb), "texture": str(result.texture),
            "num_vertices": result.num_vertices, "num_faces": result.num_faces, "texture_size": scene.texture_size,
        }


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


class TextureSystem:
    """Builds and steps a texturing run; the trainer owns the loop."""

    def __init__(self, config: TextureRunConfig, device: torch.device, load_prior: bool = True):
        cfg = config.system
        self.config = config
        self.device = device
        self.timer = SectionTimer()
        self.stage = TextureStage(cfg.texture, config.export.texture_size, device)
        self.prior = self.prompts = self.guidance = None
        if load_prior:  # a training run: read the mesh first, it is the cheapest thing to get wrong
            self.stage.set_mesh(*prepare_input_mesh(cfg.mesh_path, cfg.texture, config.export))
            self.prior, self.prompts = load_prior_and_prompts(cfg.prior, cfg.prompt_processing, cfg.prompt,
                                                              cfg.negative_prompt, device)
            self.guidance = build_guidance(self.prior, cfg.guidance, config.trainer.max_steps)

    def modules(self) -> dict[str, nn.Module]:
        """The texture and mesh (checkpointed together) and any trainable guidance state."""
        return {"texture": self.stage.scene, **guidance_modules(self.guidance)}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"texture": self.stage.optimizer, **guidance_optimizers(self.guidance)}

    def training_step(self, step: int) -> tuple[Tensor, dict]:
        return self.stage.training_loss(self.guidance, self.prompts, step, self.timer)

    def after_step(self, step: int) -> None:
        """Nothing to maintain: the geometry is fixed."""

    def render_views(self, cameras: Cameras, shading_mode: str = "albedo") -> Render:
        return self.stage.render_views(cameras)

    def export(self, run_dir: Path) -> dict:
        return self.stage.export(Path(run_dir), self.config.export)
