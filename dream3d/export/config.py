"""Options of the export stage (density grid -> mesh -> UVs -> texture -> files)."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal, Optional

from dream3d.export.silhouette import SilhouetteConfig


@dataclass
class ExportConfig:
    """How a scene becomes ``mesh/model.obj`` (+ ``.mtl``, ``texture.png``) and ``mesh/model.glb``."""

    resolution: int = 128
    """Density samples per axis of the extraction grid (up to 512)."""
    bounds_radius: float = 1.0
    """The grid spans the cube [-r, r]^3 in world units (objects fit in the unit sphere)."""
    chunk_size: int = 262144
    """Points per call of ``scene.density`` / ``scene.albedo``."""
    threshold: Optional[float] = None
    """Density level of the surface. None = auto: Otsu's split of log(1 + density) separates
    empty from occupied voxels, and the level is half the median density of the occupied
    ones (a half-maximum surface), never below ``min_auto_threshold``."""
    min_auto_threshold: float = 1.0
    """Floor of the automatic threshold, so that near-empty scenes are not meshed from noise."""
    fill_cavities: bool = True
    """Fill enclosed pockets of low density inside the object before meshing, so the mesh is
    the outer surface only (a NeRF's unseen interior is otherwise meshed as inner shells)."""
    surface: Literal["density", "solid"] = "density"
    """``density``: marching cubes of the density at the threshold. ``solid``: the voxels above
    ``solid_level`` x the threshold (and, for scenes that render their own views, inside the
    silhouette hull) are cleaned, with tunnels closed, spikes opened, pockets filled and only
    the largest piece kept; the mesh is the smooth boundary of that solid (``dream3d.export.solid``)."""
    solid_level: float = 1.0
    """``solid``: the fraction of the threshold above which a voxel is occupied."""
    close_voxels: float = 2.0
    """``solid``: radius in voxels of the closing that fills tunnels and cracks (0 = none). With
    silhouettes it adds only voxels inside their hull, so holes that a view sees through stay open."""
    open_voxels: float = 1.0
    """``solid``: radius in voxels of the opening that cuts spikes and threads (0 = none)."""
    smooth_voxels: float = 1.0
    """``solid``: standard deviation in voxels of the blur that smooths the solid's boundary."""
    silhouette: SilhouetteConfig = field(default_factory=SilhouetteConfig)
    """``solid``: the silhouette hull (Gaussians; other scenes ignore it)."""
    min_component_fraction: float = 0.01
    """Drop disconnected pieces with fewer faces than this fraction of the largest piece."""
    merge_distance: float = 0.1
    """Merge vertices closer than this percentage of the bounding-box diagonal (0 = off)."""
    remesh: bool = False
    """Isotropic remeshing before decimation (more even triangles; slower)."""
    remesh_iterations: int = 3
    """Iterations of the isotropic remeshing."""
    target_faces: int = 20000
    """Decimate to at most this many faces (0 = keep all)."""
    texture_size: int = 1024
    """Texture width and height in texels."""
    uv_padding: int = 2
    """Gap between UV charts, in texels."""
    dilation: int = 4
    """Texels of seam padding grown from each chart's border before the push-pull fill."""
    preview: bool = True
    """Write ``mesh/preview.png``: the exported mesh rendered from 4 views."""
    preview_size: int = 256
    """Size in pixels of each preview view."""
    progress: bool = True
    """Show tqdm progress bars for the long stages."""


def silhouettes_wanted(export_config: ExportConfig, on_by_default: bool) -> bool:
    """Whether ``export_config``'s solid is bounded by a silhouette hull: a ``solid`` surface, and
    ``silhouette.enabled`` true (None: ``on_by_default``, the scene's own default)."""
    enabled = export_config.silhouette.enabled
    return export_config.surface == "solid" and (on_by_default if enabled is None else enabled)


WRITING_OPTIONS = frozenset({"texture_size", "dilation", "preview", "preview_size", "progress", "chunk_size"})
"""The options that still apply when the geometry is fixed (a textured-mesh stage writes its
mesh as it is); every other option makes the mesh."""


def meshing_options_changed(before: ExportConfig, after: ExportConfig) -> list[str]:
    """The options that make the mesh (not in ``WRITING_OPTIONS``) whose values differ."""
    return [f.name for f in fields(ExportConfig)
            if f.name not in WRITING_OPTIONS and getattr(before, f.name) != getattr(after, f.name)]


def validate_export_config(config: ExportConfig) -> None:
    """Raise ``ValueError`` naming the first ``export.*`` option out of range."""
    checks = [
        ("resolution", 8 <= config.resolution <= 512, "an integer in [8, 512]"),
        ("bounds_radius", config.bounds_radius > 0, "positive"),
        ("chunk_size", config.chunk_size >= 1, "at least 1"),
        ("min_component_fraction", 0.0 <= config.min_component_fraction < 1.0, "in [0, 1)"),
        ("merge_distance", config.merge_distance >= 0.0, "non-negative"),
        ("target_faces", config.target_faces >= 0, "non-negative (0 = keep all)"),
        ("texture_size", 16 <= config.texture_size <= 8192, "an integer in [16, 8192]"),
        ("uv_padding", config.uv_padding >= 0, "non-negative"),
        ("dilation", config.dilation >= 0, "non-negative"),
        ("preview_size", config.preview_size >= 16, "at least 16"),
        ("surface", config.surface in ("density", "solid"), "'density' or 'solid'"),
        ("solid_level", config.solid_level >= 0.0, "non-negative"),
        ("close_voxels", 0.0 <= config.close_voxels <= 16.0, "in [0, 16]"),
        ("open_voxels", 0.0 <= config.open_voxels <= 16.0, "in [0, 16]"),
        ("smooth_voxels", 0.0 <= config.smooth_voxels <= 8.0, "in [0, 8]"),
        ("silhouette.min_alpha", 0.0 < config.silhouette.min_alpha < 1.0, "in (0, 1)"),
        ("silhouette.outside_views", config.silhouette.outside_views >= 1, "at least 1"),
        ("silhouette.background_tolerance", 0.0 <= config.silhouette.background_tolerance < 1.0, "in [0, 1)"),
        ("silhouette.max_hole_fraction", 0.0 <= config.silhouette.max_hole_fraction < 1.0, "in [0, 1)"),
    ]
    for key, ok, rule in checks:
        if not ok:
            value = config
            for part in key.split("."):
                value = getattr(value, part)
            raise ValueError(f"export.{key} must be {rule}, got {value!r}")
