"""Throughput of the pure-torch fallbacks, each next to its naive reference in the same run.

- volume renderer: samples/s of a training render (forward + backward, normals included)
  of the CPU DreamFusion NeRF, with the occupancy mask and without it
  (``OccupancyGridConfig.enabled=False``); samples counted along every ray, queried or not.
  The NeRF at initialisation (the centre blob), and, when the end-to-end DreamFusion case
  ran earlier in the same scratch folder, the trained NeRF of its checkpoint;
- Gaussian splatting: Gaussians x pixels/s of forward + backward, tiled rasteriser against
  ``rasterize_dense`` (every Gaussian at every pixel), DreamGaussian's initial scene;
- mesh rasteriser: triangles x pixels/s of the visibility pass, bounding-box binning
  against ``rasterize_2d_naive`` (every pixel against every triangle), an icosphere.

Timings are medians (volume, splat) or best-of (raster, as ``bench_export.py``) after a
warm-up; the naive references are timed once.
"""
from __future__ import annotations

from pathlib import Path

import torch

SIZES: dict[str, dict[str, dict]] = {
    "volume": {"smoke": dict(size=16, n_samples=16, repeats=1), "quick": dict(size=32, n_samples=32, repeats=3),
               "full": dict(size=64, n_samples=64, repeats=5)},
    "splat": {"smoke": dict(size=32, gaussians=300, repeats=1), "quick": dict(size=64, gaussians=2000, repeats=3),
              "full": dict(size=128, gaussians=10000, repeats=5)},
    "raster": {"smoke": dict(subdivisions=2, size=32, views=1, repeats=1),
               "quick": dict(subdivisions=4, size=64, views=4, repeats=3),
               "full": dict(subdivisions=5, size=128, views=4, repeats=5)},
}
"""Problem sizes per mode."""


def _ratio(fast: float, slow: float) -> float:
    return slow / fast if fast > 0 else float("nan")


def volume(repo: Path, size: int, n_samples: int, repeats: int, checkpoint: Path | None = None) -> dict:
    """Volume renderer with and without the occupancy mask, same field, same cameras.

    ``checkpoint``: a DreamFusion run's ``last.ckpt`` whose NeRF and occupancy grid to use.
    """
    from bench_splat import median_time

    from dream3d.cameras import CameraSampler
    from dream3d.methods import build_recipe, load_config
    from dream3d.recipe import RecipeRun

    def renderer(occupancy: bool):
        overrides = [f"system.renderer.n_samples={n_samples}", f"system.camera.height={size}",
                     f"system.camera.width={size}", f"system.renderer.occupancy.enabled={str(occupancy).lower()}"]
        torch.manual_seed(0)
        config = load_config(repo / "configs/dreamfusion.yaml", overrides)
        nerf = RecipeRun(build_recipe(config), torch.device("cpu"), load_prior=False).representations["nerf"]
        if checkpoint is not None:
            state = torch.load(checkpoint, map_location="cpu", weights_only=False)["recipe"]["stages"]["nerf"]["representation"]
            nerf.load_state_dict(state)
        else:
            with torch.no_grad():
                nerf.renderer.update(0, force=True)
        return nerf

    masked, naive = renderer(True), renderer(False)
    naive.renderer.load_state_dict(masked.renderer.state_dict(), strict=False)
    cameras = CameraSampler(load_config(repo / "configs/dreamfusion.yaml", [f"system.camera.height={size}",
                                                                            f"system.camera.width={size}"]).system.camera
                            ).sample(0, generator=torch.Generator().manual_seed(0))
    rays = cameras.height * cameras.width * len(cameras)

    def step(system) -> None:
        system.renderer.train()
        render = system.renderer(cameras, "albedo")
        (render.rgb.sum() + render.extras["orientation"]).backward()
        system.renderer.zero_grad(set_to_none=True)

    with torch.no_grad():
        masked.renderer.train()
        queried = masked.renderer(cameras, "albedo").extras["samples_queried"]
    fast, _ = median_time(lambda: step(masked), repeats)
    slow, _ = median_time(lambda: step(naive), max(1, repeats // 2))
    samples = rays * n_samples
    return {
        "scene": "trained (end-to-end run)" if checkpoint is not None else "initialisation",
        "size": size, "n_samples": n_samples, "rays": rays,
        "occupied_cells": masked.renderer.occupancy.occupancy_fraction(),
        "queried_fraction": queried / samples,
        "seconds": fast, "naive_seconds": slow,
        "rate": samples / fast, "naive_rate": samples / slow, "speedup": _ratio(fast, slow),
        "unit": "samples/s",
    }


def splat(repo: Path, size: int, gaussians: int, repeats: int) -> dict:
    """Tiled Gaussian rasteriser against the dense reference, forward + backward."""
    from bench_splat import make_scene, median_time, render_fn

    from dream3d.render.splat import auto_tile_size, rasterize, rasterize_dense

    scene = make_scene(gaussians)
    tiled = render_fn(scene, size, True, lambda p, c, b, w, h: rasterize(p, c, b, w, h, auto_tile_size(p)))
    dense = render_fn(scene, size, True, lambda p, c, b, w, h: rasterize_dense(p, c, b, w, h, block=1024))
    fast, _ = median_time(tiled, repeats)
    slow, _ = median_time(dense, 1, warm_up=False)
    work = gaussians * size * size
    return {
        "size": size, "gaussians": gaussians, "seconds": fast, "naive_seconds": slow,
        "rate": work / fast, "naive_rate": work / slow, "speedup": _ratio(fast, slow), "unit": "Gaussians*px/s",
    }


def raster(repo: Path, subdivisions: int, size: int, views: int, repeats: int) -> dict:
    """Binned mesh rasteriser against the naive one (visibility), plus a full textured render."""
    import trimesh
    from bench_export import _time

    from dream3d.cameras import orbit_cameras
    from dream3d.render.mesh_raster import TexturedMesh, rasterize, render_mesh

    sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=0.5)
    vertices = torch.tensor(sphere.vertices, dtype=torch.float32)
    mesh = TexturedMesh(vertices, torch.tensor(sphere.faces), uvs=vertices[:, :2] + 0.5, texture=torch.rand(256, 256, 3))
    cameras = orbit_cameras(views, height=size, width=size)
    fast = _time(lambda: rasterize(mesh, cameras), repeats)
    slow = _time(lambda: rasterize(mesh, cameras, naive=True), 1)
    render = _time(lambda: render_mesh(mesh, cameras, backend="torch"), repeats)
    work = len(sphere.faces) * size * size * views
    return {
        "faces": len(sphere.faces), "size": size, "views": views, "seconds": fast, "naive_seconds": slow,
        "render_seconds": render, "rate": work / fast, "naive_rate": work / slow, "speedup": _ratio(fast, slow),
        "unit": "triangles*px/s",
    }


def trained_checkpoint(scratch: Path, mode: str) -> Path | None:
    """The checkpoint of the end-to-end DreamFusion case of this run, if it ran (see ``run.py``'s layout)."""
    from suite.end_to_end import run_dir

    path = run_dir(scratch.parent.parent / "end_to_end-dreamfusion" / mode, "dreamfusion") / "ckpts" / "last.ckpt"
    return path if path.is_file() else None


def run_throughput(repo: Path, kind: str, mode: str, checkpoint: Path | None = None) -> dict:
    """One fallback's throughput at the sizes of ``mode``: ``{"variants": [...], "threads": n}``.

    ``checkpoint``: a trained DreamFusion run's, for a second volume-renderer variant.
    """
    torch.manual_seed(0)
    sizes = SIZES[kind][mode]
    if kind == "volume":
        variants = [volume(repo, **sizes)]
        if checkpoint is not None:
            variants.append(volume(repo, **sizes, checkpoint=checkpoint))
    else:
        variants = [{"splat": splat, "raster": raster}[kind](repo, **sizes)]
    return {"variants": variants, "threads": torch.get_num_threads()}
