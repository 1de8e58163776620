"""Every CUDA path against its pure-torch fallback, on identical inputs.

Each check returns a dict: ``status`` (passed / failed / skipped), ``reason`` when skipped,
``differences`` (``compare.Difference`` rows), and ``seconds`` per backend. The first call of
a CUDA backend includes its JIT build (gsplat and nerfacc compile on first use), so each
check renders twice and times the second call; the first call's time is reported apart.

The tolerances, and why:

- **gsplat vs the torch splatter**. Same EWA projection, same 1/255 alpha cut-off, same
  0.99 alpha cap. gsplat stops compositing a pixel once its transmittance would drop below
  1e-4; the torch path composites everything. What gsplat leaves out is at most the
  transmittance at the stop, so rare pixels of opaque regions can differ by up to ~1e-2,
  while the mean over an image stays near float32 rounding. Images: max 2e-2, mean 1e-4.
  Gradients come from different evaluation orders (gsplat replays back to front):
  relative to the largest gradient, max 5e-2 and mean 2e-3.
- **nerfacc vs the torch sampler**. Different quadratures of the same integral: nerfacc
  marches fixed steps through the bounding cube, the torch path takes ``n_samples``
  bins along each ray's chord of the bounding sphere. With 512 samples on a smooth field
  the quadrature error is far below 1e-2. Images: max 5e-2, mean 5e-3.
- **nvdiffrast vs the torch rasteriser**. The same pixel-centre coverage and
  perspective-correct interpolation, except for tie rules on edges through pixel centres:
  at most 1% of pixels may change coverage (the mean of |alpha difference|). On pixels
  both cover, depth agrees to 1e-3 of its range, and colour to 2e-2 (nvdiffrast
  anti-aliases silhouettes, the torch path does not).
- **tinycudann vs the torch hash grid**. tinycudann offsets positions by half a cell and
  lays its tables out differently, so their outputs are not comparable elementwise. Both
  fit the same smooth target for 300 steps; the final errors must agree within 2x.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import Tensor

from dream3d import optional
from dream3d.cameras import orbit_cameras
from gpu.compare import Difference, Tolerance, difference

IMAGE_SPLAT = Tolerance(2e-2, 1e-4, why="gsplat stops at transmittance 1e-4")
GRAD_SPLAT = Tolerance(5e-2, 2e-3, relative=True, why="evaluation order; relative to max |grad|")
IMAGE_VOLUME = Tolerance(5e-2, 5e-3, why="different quadrature points")
COVERAGE_MESH = Tolerance(1.0, 1e-2, why="mean = share of pixels whose coverage differs")
DEPTH_MESH = Tolerance(1e-3, 1e-4, relative=True, why="same interpolation")
COLOUR_MESH = Tolerance(2e-2, 2e-3, why="nvdiffrast anti-aliases silhouettes")
FIT_HASHGRID = Tolerance(1.0, 1.0, relative=True, why="final fit errors within 2x")


def _timed(fn: Callable[[], object], device: torch.device) -> tuple[object, float]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def _result(differences: list[Difference], seconds: dict[str, float], note: str = "") -> dict:
    status = "passed" if all(d.passed for d in differences) else "failed"
    return {"status": status, "differences": [d.as_dict() for d in differences], "seconds": seconds, "note": note}


def _skipped(reason: str, seconds: dict[str, float] | None = None) -> dict:
    return {"status": "skipped", "reason": reason, "differences": [], "seconds": seconds or {}}


# ---------------------------------------------------------------- Gaussians
def random_gaussians(n: int, device: torch.device, seed: int = 0):
    """``n`` Gaussians of mixed size, colour and opacity in a ball of radius 0.6."""
    from dream3d.scene.gaussians import GaussianScene, sample_ball

    generator = torch.Generator().manual_seed(seed)
    means = sample_ball(n, 0.6, generator)
    log_scales = torch.empty(n, 3).uniform_(math.log(0.01), math.log(0.06), generator=generator)
    quats = torch.randn(n, 4, generator=generator)
    opacity_logits = torch.empty(n).uniform_(-2.0, 3.0, generator=generator)
    rgb = torch.rand(n, 3, generator=generator)
    return GaussianScene.from_tensors(means, log_scales, quats, opacity_logits, rgb).to(device)


def _splat_pass(scene, cameras, backend: str, weights: Tensor) -> dict[str, Tensor]:
    from dream3d.render.splat import SplatConfig, render_gaussians

    for p in scene.parameters():
        p.grad = None
    background = torch.tensor([1.0, 1.0, 1.0], device=scene.means.device)
    render = render_gaussians(scene, cameras, background, SplatConfig(backend=backend))
    (render.rgb * weights).sum().backward()
    out = {"rgb": render.rgb.detach(), "alpha": render.alpha.detach()}
    out.update({f"grad {name}": p.grad.detach().clone() for name, p in scene.params.items()})
    return out


def splat_check(device: torch.device, n_gaussians: int, size: int) -> dict:
    """gsplat.rasterization against the torch splatter: images, alphas and every parameter's gradient."""
    scene = random_gaussians(n_gaussians, device)
    cameras = orbit_cameras(4, elevation=20.0, distance=2.5, fovy=49.1, height=size, width=size).to(device)
    weights = torch.rand(4, size, size, 3, generator=torch.Generator().manual_seed(1)).to(device)
    reference, torch_seconds = _timed(lambda: _splat_pass(scene, cameras, "torch", weights), device)
    seconds = {"torch": torch_seconds}
    if optional.gsplat_rasterization() is None:
        return _skipped("gsplat needs CUDA and its extension" if device.type == "cuda" else "no CUDA device", seconds)
    _, seconds["gsplat first call (with JIT build)"] = _timed(lambda: _splat_pass(scene, cameras, "gsplat", weights), device)
    candidate, seconds["gsplat"] = _timed(lambda: _splat_pass(scene, cameras, "gsplat", weights), device)
    rows = [difference(k, candidate[k], reference[k], IMAGE_SPLAT if k in ("rgb", "alpha") else GRAD_SPLAT)
            for k in reference]
    return _result(rows, seconds, f"{n_gaussians} Gaussians, 4 views of {size}x{size}")


# ---------------------------------------------------------------- NeRF
def _volume_renderers(device: torch.device, n_samples: int):
    from dream3d.render.shading import ShadingConfig
    from dream3d.render.volume import VolumeRenderer, VolumeRendererConfig
    from dream3d.scene.background import Background, BackgroundConfig
    from dream3d.scene.encodings import EncodingConfig
    from dream3d.scene.nerf import NeRFConfig, NeRFField

    torch.manual_seed(0)
    encoding = EncodingConfig(type="hashgrid", backend="torch", n_levels=8, log2_hashmap_size=15, max_resolution=128)
    field_ = NeRFField(NeRFConfig(encoding=encoding)).to(device)
    with torch.no_grad():  # structure beyond the blob: a random hash table
        for p in field_.parameters():
            if p.dim() == 3:
                p.uniform_(-0.5, 0.5)
    background = Background(BackgroundConfig(type="solid")).to(device)
    config = VolumeRendererConfig(n_samples=n_samples, backend="torch")
    shading = ShadingConfig()
    renderers = {"torch": VolumeRenderer(field_, background, config, shading).to(device)}
    if device.type == "cuda" and optional.nerfacc_occupancy_grid() is not None:
        from dream3d.render.volume_nerfacc import NerfaccVolumeRenderer

        renderers["nerfacc"] = NerfaccVolumeRenderer(field_, background, config, shading).to(device)
    for renderer in renderers.values():
        renderer.eval()
        renderer.update(0)
    return renderers


def volume_check(device: torch.device, size: int, n_samples: int) -> dict:
    """nerfacc's estimator + compositing against the torch sampler: rendered images."""
    renderers = _volume_renderers(device, n_samples)
    cameras = orbit_cameras(2, elevation=15.0, distance=2.0, fovy=60.0, height=size, width=size).to(device)

    def render(name: str) -> dict[str, Tensor]:
        with torch.no_grad():
            out = renderers[name](cameras, "albedo")
        return {"rgb": out.rgb, "alpha": out.alpha}

    reference, torch_seconds = _timed(lambda: render("torch"), device)
    seconds = {"torch": torch_seconds}
    if "nerfacc" not in renderers:
        return _skipped("nerfacc needs CUDA and its extension" if device.type == "cuda" else "no CUDA device", seconds)
    _, seconds["nerfacc first call (with JIT build)"] = _timed(lambda: render("nerfacc"), device)
    candidate, seconds["nerfacc"] = _timed(lambda: render("nerfacc"), device)
    rows = [difference(k, candidate[k], reference[k], IMAGE_VOLUME) for k in reference]
    return _result(rows, seconds, f"hash-grid field, {n_samples} samples, 2 views of {size}x{size}")


# ---------------------------------------------------------------- meshes
def _sphere_mesh(device: torch.device):
    import trimesh

    from dream3d.render.mesh_raster import TexturedMesh

    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.7)
    vertices = torch.tensor(sphere.vertices, dtype=torch.float32, device=device)
    colours = 0.5 + 0.5 * torch.sin(4.0 * vertices)
    return TexturedMesh(vertices=vertices, faces=torch.tensor(sphere.faces, device=device), vertex_colors=colours)


def mesh_check(device: torch.device, size: int) -> dict:
    """nvdiffrast against the torch mesh rasteriser: coverage, depth and colour."""
    from dream3d.render.mesh_raster import render_mesh

    mesh = _sphere_mesh(device)
    cameras = orbit_cameras(4, elevation=20.0, distance=2.5, height=size, width=size).to(device)
    reference, torch_seconds = _timed(lambda: render_mesh(mesh, cameras, 1.0, backend="torch"), device)
    seconds = {"torch": torch_seconds}
    if device.type != "cuda" or optional.nvdiffrast_torch() is None:
        return _skipped("nvdiffrast is not installed" if device.type == "cuda" else "no CUDA device", seconds)
    _, seconds["nvdiffrast first call"] = _timed(lambda: render_mesh(mesh, cameras, 1.0, backend="nvdiffrast"), device)
    candidate, seconds["nvdiffrast"] = _timed(lambda: render_mesh(mesh, cameras, 1.0, backend="nvdiffrast"), device)
    both = (candidate.alpha > 0.5) & (reference.alpha > 0.5)
    rows = [
        difference("alpha", candidate.alpha, reference.alpha, COVERAGE_MESH),
        difference("depth (both covered)", candidate.depth[both], reference.depth[both], DEPTH_MESH),
        difference("rgb (both covered)", candidate.rgb[both.expand_as(candidate.rgb)],
                   reference.rgb[both.expand_as(reference.rgb)], COLOUR_MESH),
    ]
    return _result(rows, seconds, f"icosphere, {mesh.faces.shape[0]} faces, 4 views of {size}x{size}")


# ---------------------------------------------------------------- hash grids
def _fit_error(encoding: torch.nn.Module, device: torch.device, steps: int) -> Tensor:
    """Final mean squared error of encoding + linear head fitted to a smooth 3D target."""
    head = torch.nn.Linear(encoding.output_dim, 1).to(device)
    optimizer = torch.optim.Adam([*encoding.parameters(), *head.parameters()], lr=1e-2)
    generator = torch.Generator(device="cpu").manual_seed(0)
    for _ in range(steps):
        x = torch.rand(4096, 3, generator=generator).to(device)
        target = torch.sin(6.0 * x).prod(-1, keepdim=True)
        loss = (head(encoding(x).float()) - target).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.detach()


def hashgrid_check(device: torch.device, steps: int) -> dict:
    """tinycudann against the torch hash grid, by the error of the same fit."""
    from dream3d.scene.encodings import EncodingConfig, HashGrid, TcnnHashGrid

    config = EncodingConfig(type="hashgrid", n_levels=8, log2_hashmap_size=15, max_resolution=128)
    torch.manual_seed(0)
    reference, torch_seconds = _timed(lambda: _fit_error(HashGrid(config).to(device), device, steps), device)
    seconds = {"torch": torch_seconds}
    if device.type != "cuda" or optional.tinycudann() is None:
        return _skipped("tinycudann is not installed" if device.type == "cuda" else "no CUDA device", seconds)
    candidate, seconds["tinycudann"] = _timed(lambda: _fit_error(TcnnHashGrid(config).to(device), device, steps), device)
    row = difference("fit mse", candidate.reshape(1), reference.reshape(1), FIT_HASHGRID)
    return _result([row], seconds, f"{steps} Adam steps on sin(6x)sin(6y)sin(6z)")


def run_crosschecks(device: torch.device, smoke: bool) -> dict[str, dict]:
    """All four checks; a check that raises is reported as failed with its error."""
    sizes = dict(n_gaussians=300, splat=32, volume=16, samples=64, mesh=32, fit=5) if smoke else \
        dict(n_gaussians=20000, splat=256, volume=128, samples=512, mesh=256, fit=300)
    checks: dict[str, Callable[[], dict]] = {
        "gsplat vs torch splatter": lambda: splat_check(device, sizes["n_gaussians"], sizes["splat"]),
        "nerfacc vs torch sampler": lambda: volume_check(device, sizes["volume"], sizes["samples"]),
        "nvdiffrast vs torch rasteriser": lambda: mesh_check(device, sizes["mesh"]),
        "tinycudann vs torch hash grid": lambda: hashgrid_check(device, sizes["fit"]),
    }
    results = {}
    for name, check in checks.items():
        try:
            results[name] = check()
        except Exception as error:  # noqa: BLE001 - the report records it; the other checks still run
            results[name] = {"status": "failed", "reason": f"{type(error).__name__}: {error}", "differences": [], "seconds": {}}
    return results
