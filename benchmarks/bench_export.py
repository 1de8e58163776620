"""Export-stage and mesh-rasteriser speed on CPU.

1. ``export_scene`` of an analytic scene (a sphere and a torus, colour ramps) on a
   ``--resolution``^3 grid with a ``--texture-size``^2 texture, per stage.
2. The torch mesh rasteriser (bounding-box binning) in triangles x pixels per second,
   next to the naive reference that tests every pixel against every triangle.

Usage: ``python benchmarks/bench_export.py [--resolution 256] [--texture-size 1024] [--threads 2]``
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import trimesh

from dream3d.cameras import orbit_cameras
from dream3d.export import ExportConfig, export_scene
from dream3d.render.mesh_raster import TexturedMesh, rasterize, render_mesh


class SphereAndTorus:
    """Analytic scene: density from the signed distance to a sphere and a torus."""

    def density(self, points: torch.Tensor) -> torch.Tensor:  # [N,3] -> [N]
        sphere = points.norm(dim=-1) - 0.35
        ring = torch.stack([points[:, :2].norm(dim=-1) - 0.6, points[:, 2]], -1).norm(dim=-1) - 0.12
        return 50.0 * torch.sigmoid(-80.0 * torch.minimum(sphere, ring))

    def albedo(self, points: torch.Tensor) -> torch.Tensor:  # [N,3] -> [N,3]
        x, z = points[:, 0], points[:, 2]
        return torch.stack([0.5 + 0.5 * x, 0.5 - 0.5 * x, 0.5 + 0.8 * z], -1).clamp(0, 1)


def bench_export(resolution: int, texture_size: int) -> None:
    config = ExportConfig(resolution=resolution, texture_size=texture_size, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        result = export_scene(SphereAndTorus(), config, Path(tmp))
        glb = trimesh.load(result.glb, force="mesh")
    geometry = trimesh.Trimesh(glb.vertices, glb.faces, process=False)
    geometry.merge_vertices(merge_tex=True, merge_norm=True)
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items() if k != "total")
    print(f"export {resolution}^3 grid, {texture_size}^2 texture: total {result.timings['total']:.2f}s "
          f"({result.num_faces} faces, watertight {geometry.is_watertight}, "
          f"{len(geometry.split(only_watertight=False))} pieces, Euler number {geometry.euler_number}; expected 2 and 2)\n  stages: {stages}")


def _time(fn, repeats: int) -> float:
    """Best of ``repeats`` runs after a warm-up (the machine may be shared)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_raster(subdivisions: int, size: int, naive: bool, views: int = 4) -> None:
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=0.5)
    vertices = torch.tensor(sphere.vertices, dtype=torch.float32)
    faces = torch.tensor(sphere.faces)
    texture = torch.rand(512, 512, 3)
    uvs = vertices[:, :2] + 0.5
    mesh = TexturedMesh(vertices, faces, uvs=uvs, texture=texture)
    cameras = orbit_cameras(views, height=size, width=size)
    work = len(faces) * size * size * views  # triangles x pixels
    binned = _time(lambda: render_mesh(mesh, cameras, backend="torch"), repeats=5)
    line = (f"raster {len(faces):6d} faces {size:3d}px x{views}: render {binned * 1e3:7.1f} ms "
            f"({work / binned / 1e9:7.1f} G tri*px/s)")
    if naive:
        slow = _time(lambda: rasterize(mesh, cameras, naive=True), repeats=1)
        fast = _time(lambda: rasterize(mesh, cameras), repeats=5)
        line += (f" | visibility: binned {fast * 1e3:.1f} ms, naive {slow * 1e3:.0f} ms "
                 f"({work / slow / 1e9:.3f} G tri*px/s, {slow / fast:.0f}x slower)")
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--texture-size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_export(args.resolution, args.texture_size)
    cases = [(4, 64, True), (5, 64, True), (5, 128, False), (5, 256, False), (6, 128, False), (6, 256, False)]
    for subdivisions, size, naive in cases:
        bench_raster(subdivisions, size, naive)


if __name__ == "__main__":
    main()
