"""The export stage: density grid -> isosurface -> cleanup -> UVs -> texture -> files -> preview.

Each stage is a function of its own, so a method that colours the mesh differently
(e.g. DreamGaussian's back-projection) can run :func:`extract_mesh`, :func:`unwrap`,
its own texturing (with :func:`dream3d.export.texels.texel_surface_points` and
:func:`dream3d.export.bake.fill_seams`), then :func:`write_export`.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch
from torch import Tensor

from dream3d.config import save_config
from dream3d.export.bake import bake_albedo
from dream3d.export.cleanup import cleanup_mesh
from dream3d.export.config import ExportConfig, validate_export_config
from dream3d.export.formats import texture_to_uint8, write_glb, write_obj
from dream3d.export.grid import ExportableScene, density_grid, scene_device
from dream3d.export.isosurface import extract_isosurface, fill_cavities, resolve_threshold
from dream3d.export.preview import write_preview
from dream3d.export.silhouette import SilhouetteSource, SilhouetteViews, carve
from dream3d.export.solid import solid_surface
from dream3d.export.texels import texel_surface_points
from dream3d.export.types import Mesh, UVMesh
from dream3d.export.uv import unwrap_uv

log = logging.getLogger(__name__)


@dataclass
class ExportResult:
    """Where an export went and what it contains."""

    mesh_dir: Path
    obj: Path
    mtl: Path
    texture: Path
    glb: Path
    preview: Optional[Path]
    num_vertices: int
    num_faces: int
    threshold: Optional[float] = None
    """The density level used (None when the mesh did not come from a density grid)."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent in each stage."""


@contextlib.contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[stage] = time.perf_counter() - start
    log.info("export: %s took %.2fs", stage, timings[stage])


def recover_staging(final: Path) -> None:
    """Tidy what an export killed mid-way (``kill -9``, power loss) left beside ``final``.

    Staging folders (``.<name>.new-*``) were never complete: they are deleted. A folder moved
    aside (``.<name>.old-*``) is the last complete export if ``final`` is missing (the kill
    fell between the two renames): it is put back; otherwise it is deleted. Call this only
    while no other export into the same folder runs (the run lock guarantees that).
    """
    final = Path(final)
    for stale in sorted(final.parent.glob(f".{final.name}.new-*")):
        log.info("export: removing %s, left by an interrupted export", stale.name)
        shutil.rmtree(stale, ignore_errors=True)
    for old in sorted(final.parent.glob(f".{final.name}.old-*"), key=lambda p: p.stat().st_mtime, reverse=True):
        if not final.exists():
            log.info("export: restoring %s from %s, left by an interrupted export", final.name, old.name)
            os.replace(old, final)
        else:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staged_directory(final: Path) -> Iterator[Path]:
    """Yield a fresh sibling folder; on success it replaces ``final``, on error it is removed.

    An existing ``final`` is only moved aside (then deleted) once the new content is
    complete, so a failed export never leaves a partial folder or loses the old one.
    Leftovers of an export that was killed are tidied first (``recover_staging``).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    recover_staging(final)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.new-", dir=final.parent))
    os.chmod(staging, 0o755)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = staging.with_name(staging.name.replace(".new-", ".old-"))
    had_old = final.exists()
    if had_old:
        os.replace(final, old)
    try:
        os.replace(staging, final)
    except BaseException:
        if had_old:
            os.replace(old, final)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if had_old:
        shutil.rmtree(old, ignore_errors=True)


def extract_mesh(
    scene: ExportableScene,
    config: ExportConfig,
    device: torch.device | None = None,
    timings: dict[str, float] | None = None,
    silhouettes: SilhouetteViews | SilhouetteSource | None = None,
) -> tuple[Mesh, float]:
    """Clean world-space mesh of the scene's surface and the density level used.

    ``silhouettes`` (``config.surface == "solid"`` only): the scene's silhouettes
    (``dream3d.export.silhouette``), or a function that reads them from the density grid sampled
    here (``dream3d.export.density_silhouette``); occupied voxels lie inside their hull.
    Raises :class:`dream3d.export.types.ExportError` when there is nothing to mesh.
    """
    validate_export_config(config)
    timings = {} if timings is None else timings
    device = scene_device(scene) if device is None else device
    with _timed(timings, "grid"):
        grid = density_grid(scene, config.resolution, config.bounds_radius, config.chunk_size, device, config.progress)
    with _timed(timings, "isosurface"):
        threshold = resolve_threshold(grid, config.threshold, config.min_auto_threshold)
        if config.surface == "solid":
            occupied = grid.values > threshold * config.solid_level
            inside_hull = None  # every voxel is kept: no silhouettes
            if callable(silhouettes):
                silhouettes = silhouettes(grid)
            if silhouettes is not None:
                inside_hull = functools.partial(carve, radius=grid.radius, views=silhouettes,
                                                min_alpha=config.silhouette.min_alpha, chunk_size=config.chunk_size,
                                                outside_views=config.silhouette.outside_views)
                if config.silhouette.carve:
                    occupied = inside_hull(occupied)
            raw = solid_surface(occupied, grid.radius, config.close_voxels, config.open_voxels, config.smooth_voxels,
                                inside_hull)
        else:
            if config.fill_cavities:
                grid = fill_cavities(grid, threshold)
            raw = extract_isosurface(grid, threshold)
    with _timed(timings, "cleanup"):
        mesh = cleanup_mesh(
            raw,
            min_component_fraction=config.min_component_fraction,
            merge_distance=config.merge_distance,
            remesh=config.remesh,
            remesh_iterations=config.remesh_iterations,
            target_faces=config.target_faces,
        )
    return mesh, threshold


def unwrap(mesh: Mesh, config: ExportConfig, timings: dict[str, float] | None = None) -> UVMesh:
    """UV-unwrap ``mesh`` for a ``config.texture_size`` texture."""
    with _timed({} if timings is None else timings, "uv"):
        return unwrap_uv(mesh, config.texture_size, config.uv_padding)


def bake(
    scene: ExportableScene,
    mesh: UVMesh,
    config: ExportConfig,
    device: torch.device | None = None,
    timings: dict[str, float] | None = None,
) -> Tensor:
    """Albedo texture ``[S,S,3]`` in [0,1] of ``mesh``, read from ``scene``."""
    device = scene_device(scene) if device is None else device
    with _timed({} if timings is None else timings, "bake"):
        texels = texel_surface_points(mesh.vertices, mesh.faces, mesh.uvs, size=config.texture_size,
                                      vertex_normals=mesh.normals)
        return bake_albedo(scene, texels, config.chunk_size, config.dilation, device)


SETTINGS_FILE = "export.yaml"
"""Beside the mesh: the ``export.*`` options it was made with (and the density level, when it was
meshed straight from a density field by :func:`export_scene`), so that a
mesh re-exported with overrides (``launch.py --export RUN export.close_voxels=3``) says so, even
though the run's ``config.yaml`` keeps the options it was trained with."""


def write_export_settings(path: Path, config: ExportConfig, threshold: float | None) -> None:
    """``path``: ``export:`` (every option of ``config``) and ``threshold`` (null when the writer was not given
    one: meshes made through a ``MeshAsset``, e.g. from Gaussians or by an earlier stage), as YAML."""
    save_config({"export": config, "threshold": threshold}, path)


def write_export(
    mesh: UVMesh,
    texture: Tensor | np.ndarray,
    out_dir: Path,
    config: ExportConfig,
    threshold: float | None = None,
    timings: dict[str, float] | None = None,
    preview_mesh: UVMesh | None = None,
) -> ExportResult:
    """Write ``out_dir/mesh/`` (OBJ+MTL+PNG, GLB, ``export.yaml``, preview) from a mesh and its texture.

    ``texture [S,S,3]`` in [0,1]. ``preview_mesh`` is the same mesh in dream3d's world when
    ``mesh`` is placed in another frame (default: ``mesh``). Files go to a staging folder
    that replaces ``mesh/`` only when everything, the preview included, is written.
    """
    timings = {} if timings is None else timings
    texture = torch.as_tensor(texture).float().cpu()  # [S,S,3]
    image = texture_to_uint8(texture.numpy())
    final = Path(out_dir) / "mesh"
    with staged_directory(final) as staging:
        with _timed(timings, "files"):
            paths = write_obj(staging, mesh, image)
            write_glb(staging / "model.glb", mesh, image)
            write_export_settings(staging / SETTINGS_FILE, config, threshold)
        if config.preview:
            with _timed(timings, "preview"):
                write_preview(staging / "preview.png", preview_mesh or mesh, texture, config.preview_size)
    log.info("export: wrote %s (%d vertices, %d faces)", final, len(mesh.vertices), len(mesh.faces))
    return ExportResult(
        mesh_dir=final,
        obj=final / paths["obj"].name,
        mtl=final / paths["mtl"].name,
        texture=final / paths["texture"].name,
        glb=final / "model.glb",
        preview=final / "preview.png" if config.preview else None,
        num_vertices=int(len(mesh.vertices)),
        num_faces=int(len(mesh.faces)),
        threshold=threshold,
        timings=timings,
    )


def export_scene(
    scene: ExportableScene,
    config: ExportConfig,
    out_dir: Path,
    device: torch.device | None = None,
    silhouettes: SilhouetteViews | SilhouetteSource | None = None,
) -> ExportResult:
    """Export ``scene`` as a textured mesh into ``out_dir/mesh/``.

    ``scene`` needs only ``density(points [N,3]) -> [N]`` and
    ``albedo(points [N,3]) -> [N,3]`` (world space); ``silhouettes`` as for :func:`extract_mesh`.
    Raises ``ExportError`` when no surface is found; an existing ``mesh/`` is then left untouched.
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    mesh, threshold = extract_mesh(scene, config, device, timings, silhouettes)
    uv_mesh = unwrap(mesh, config, timings)
    texture = bake(scene, uv_mesh, config, device, timings)
    result = write_export(uv_mesh, texture, out_dir, config, threshold, timings)
    timings["total"] = time.perf_counter() - start
    return result
