"""Speed of the torch Gaussian rasteriser on CPU, and of the density query used by export.

1. Forward and forward+backward of one render, in Gaussians x pixels per second, for the
   tile-based rasteriser (several tile/chunk sizes) next to the naive reference that
   evaluates every Gaussian at every pixel (``rasterize_dense``, pixel blocks recomputed
   in the backward pass so that it fits in memory).
2. ``GaussianScene.density`` / ``albedo`` on a ``--grid``^3 lattice.

Scenes are DreamGaussian's initialisation (uniform in a ball of radius 0.5, nearest-neighbour
scales) with opacity 0.5, seen from the default training distance (2.5) with a 40 degree fov.

Usage: ``python benchmarks/bench_splat.py [--threads 2] [--repeats 5] [--grid 128] [--no-naive]``
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch

from dream3d.cameras import orbit_cameras
from dream3d.render.splat import auto_tile_size, project, rasterize, rasterize_dense
from dream3d.scene.gaussians import GaussianConfig, GaussianScene

CONFIGS = [(64, 5000), (64, 10000), (128, 5000), (128, 10000)]
TILINGS = [(4, 32), (8, 32), (16, 64)]


def median_time(fn: Callable[[], None], repeats: int, warm_up: bool = True) -> tuple[float, float]:
    """Median wall-clock and process CPU seconds of ``fn`` (CPU time is steadier on a shared machine)."""
    if warm_up:
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def make_scene(n: int) -> GaussianScene:
    scene = GaussianScene(GaussianConfig(num_points=n, init_opacity=0.5), generator=torch.Generator().manual_seed(0))
    return scene


def render_fn(scene: GaussianScene, size: int, backward: bool, raster: Callable) -> Callable[[], None]:
    cams = orbit_cameras(1, height=size, width=size)
    viewmats, Ks, bg = cams.w2c(), cams.intrinsics(), torch.ones(1, 3)

    def run() -> None:
        with torch.set_grad_enabled(backward):
            proj = project(scene.means, scene.covariances(), scene.opacities, viewmats, Ks, size, size)
            rgb, alpha, depth = raster(proj, scene.colors, bg, size, size)
            if backward:
                (rgb.sum() + depth.sum()).backward()
                scene.zero_grad(set_to_none=True)

    return run


def bench_render(repeats: int, naive: bool) -> None:
    print("| size | Gaussians | rasteriser | forward ms | fwd+bwd ms | fwd+bwd CPU ms | fwd+bwd Gaussians*px/s |")
    print("|---|---|---|---|---|---|---|")
    for size, n in CONFIGS:
        scene = make_scene(n)
        variants: list[tuple[str, Callable]] = [
            (f"tiles {t}px, chunk {k}", lambda p, c, b, w, h, t=t, k=k: rasterize(p, c, b, w, h, t, k))
            for t, k in TILINGS]
        variants.append(("auto tile (default), chunk 32",
                         lambda p, c, b, w, h: rasterize(p, c, b, w, h, auto_tile_size(p))))
        if naive:
            variants.append(("naive (all x all)", lambda p, c, b, w, h: rasterize_dense(p, c, b, w, h, block=1024)))
        for name, raster in variants:
            slow = name.startswith("naive")
            fwd, _ = median_time(render_fn(scene, size, False, raster), 1 if slow else repeats, warm_up=not slow)
            both, both_cpu = median_time(render_fn(scene, size, True, raster), 1 if slow else repeats, warm_up=not slow)
            rate = n * size * size / both
            print(f"| {size} | {n} | {name} | {fwd * 1e3:.1f} | {both * 1e3:.1f} | {both_cpu * 1e3:.1f} | {rate:.2e} |",
                  flush=True)


def bench_density(grid: int) -> None:
    lin = torch.linspace(-1.0, 1.0, grid)
    points = torch.stack(torch.meshgrid(lin, lin, lin, indexing="ij"), -1).reshape(-1, 3)
    for n in (5000, 10000):
        scene = make_scene(n)
        with torch.no_grad():
            t_density, cpu_density = median_time(lambda: scene.density(points), 1, warm_up=False)
            t_both, cpu_both = median_time(lambda: scene.density_and_albedo(points), 1, warm_up=False)
        print(f"density query {grid}^3 x {n} Gaussians: density {t_density:.2f}s (CPU {cpu_density:.2f}s), "
              f"density+albedo {t_both:.2f}s (CPU {cpu_both:.2f}s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--grid", type=int, default=128)
    parser.add_argument("--no-naive", action="store_true", help="skip the naive reference")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_render(args.repeats, naive=not args.no_naive)
    bench_density(args.grid)


if __name__ == "__main__":
    main()
