"""The torch Gaussian rasteriser against closed forms, a dense reference and finite differences."""
from __future__ import annotations

import math

import pytest
import torch

from dream3d.cameras import Cameras
from dream3d.optional import MissingAcceleratorError
from dream3d.render.splat import ALPHA_MAX, ALPHA_MIN, ChunkComposite, SplatConfig, project, rasterize, rasterize_dense, render_gaussians, splat_backend
from dream3d.scene.gaussians import GaussianScene, covariances

FOVY, DIST = 40.0, 2.5
TORCH = SplatConfig(backend="torch")


pytestmark = pytest.mark.usefixtures("one_thread")


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def make_scene(means, log_scales, opacities, rgb, quats=None, dtype=torch.float32) -> GaussianScene:
    means = torch.as_tensor(means, dtype=dtype)
    n = means.shape[0]
    if quats is None:
        quats = torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(n, 1)
    scene = GaussianScene.from_tensors(
        means, torch.as_tensor(log_scales, dtype=dtype).reshape(n, -1).expand(n, 3),
        torch.as_tensor(quats, dtype=dtype), torch.as_tensor([logit(o) for o in opacities], dtype=dtype),
        torch.as_tensor(rgb, dtype=dtype))
    return scene.to(dtype)


def front_camera(size: int = 32, width: int | None = None) -> Cameras:
    """Camera on +x at distance DIST looking at the origin (azimuth 0, elevation 0)."""
    zero = torch.tensor([0.0])
    return Cameras.from_spherical(zero, zero, torch.tensor([DIST]), FOVY, size, width or size)


def expected_alpha(point, sigma: float, opacity: float, size: int):
    """Closed-form footprint of an isotropic Gaussian seen by ``front_camera`` (EWA, 0.3 px blur).

    That camera's frame in world terms: right = +y, down = -z, forward = -x, so a world point
    (x, y, z) has camera coordinates (y, -z, DIST - x).
    """
    f = 0.5 * size / math.tan(math.radians(FOVY) / 2)
    xc, yc, zc = point[1], -point[2], DIST - point[0]
    J = torch.tensor([[f / zc, 0.0, -f * xc / zc**2], [0.0, f / zc, -f * yc / zc**2]], dtype=torch.float64)
    cov = sigma**2 * J @ J.T + 0.3 * torch.eye(2, dtype=torch.float64)
    centre = torch.tensor([f * xc / zc + size / 2, f * yc / zc + size / 2], dtype=torch.float64)
    v, u = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    d = torch.stack([u, v], -1).double() - centre
    power = -0.5 * torch.einsum("hwi,ij,hwj->hw", d, torch.linalg.inv(cov), d)
    alpha = (opacity * torch.exp(power)).clamp(max=0.99)
    return torch.where(alpha >= 1 / 255, alpha, torch.zeros(())), centre


@pytest.mark.parametrize("point", [(0.0, 0.0, 0.0), (0.2, -0.3, 0.25)])
def test_single_isotropic_gaussian_matches_closed_form(point):
    sigma, opacity, rgb = 0.08, 0.9, (0.2, 0.6, 0.9)
    scene = make_scene([point], [math.log(sigma)], [opacity], [rgb])
    render = render_gaussians(scene, front_camera(32), torch.ones(3), TORCH)
    alpha, centre = expected_alpha(point, sigma, opacity, 32)
    assert torch.allclose(render.alpha[0, ..., 0].double(), alpha, atol=1e-5)
    expected_rgb = alpha[..., None] * torch.tensor(rgb, dtype=torch.float64) + (1 - alpha[..., None])
    assert torch.allclose(render.rgb[0].double(), expected_rgb, atol=1e-5)
    inside = alpha > 0.05
    depth = render.depth[0, ..., 0][inside].double()
    assert torch.allclose(depth, torch.full_like(depth, DIST - point[0]), atol=1e-4)
    assert torch.allclose(render.extras["info"]["means2d"][0, 0].double(), centre, atol=1e-4)


@pytest.mark.parametrize("swap", [False, True])
def test_two_gaussians_composite_in_depth_order(swap):
    near, far = ((0.3, 0.0, 0.0), (0.0, 0.0, 0.0))  # camera on +x: larger x is nearer
    red, blue = (1.0, 0.0, 0.0), (0.0, 0.0, 1.0)
    gs = [(near, 0.7, red), (far, 0.8, blue)]
    if swap:
        gs = gs[::-1]
    scene = make_scene([g[0] for g in gs], [math.log(0.15)] * 2, [g[1] for g in gs], [g[2] for g in gs])
    render = render_gaussians(scene, front_camera(32), torch.zeros(3), TORCH)
    a_near, _ = expected_alpha(near, 0.15, 0.7, 32)
    a_far, _ = expected_alpha(far, 0.15, 0.8, 32)
    expected_r = a_near
    expected_b = (1 - a_near) * a_far
    assert torch.allclose(render.rgb[0, ..., 0].double(), expected_r, atol=1e-5)
    assert torch.allclose(render.rgb[0, ..., 2].double(), expected_b, atol=1e-5)
    assert render.rgb[0, 16, 16, 0] > render.rgb[0, 16, 16, 2]


def random_scene(n: int, seed: int, dtype=torch.float32) -> GaussianScene:
    g = torch.Generator().manual_seed(seed)
    means = (torch.rand(n, 3, generator=g) - 0.5) * 1.2
    log_scales = torch.log(0.02 + 0.12 * torch.rand(n, 3, generator=g))
    quats = torch.randn(n, 4, generator=g)
    opacity = torch.logit(0.05 + 0.9 * torch.rand(n, generator=g))
    rgb = torch.rand(n, 3, generator=g)
    return GaussianScene.from_tensors(means, log_scales, quats, opacity, rgb).to(dtype)


@pytest.mark.parametrize("tile,chunk", [(4, 8), (8, 32), (16, 64)])
def test_tiled_rasteriser_matches_dense_reference(tile, chunk):
    scene = random_scene(150, seed=1)
    cams = Cameras.from_spherical(torch.tensor([10.0, 45.0]), torch.tensor([30.0, -100.0]), torch.tensor([2.4, 2.6]),
                                  FOVY, 22, 30)
    with torch.no_grad():
        proj = project(scene.means, scene.covariances(), scene.opacities, cams.w2c(), cams.intrinsics(), 30, 22)
        bg = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.5, 0.0]])
        tiled = rasterize(proj, scene.colors, bg, 30, 22, tile, chunk)
        dense = rasterize_dense(proj, scene.colors, bg, 30, 22, block=97 if tile == 8 else None)
    for a, b in zip(tiled, dense):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-5)
    assert tiled[1].max() > 0.5


def composite_by_autograd(q: torch.Tensor, feats: torch.Tensor, basis: torch.Tensor):
    """The chunk compositing written as plain tensor operations, for autograd to differentiate."""
    alpha = torch.exp(q @ basis).clamp_max(ALPHA_MAX)
    alpha = torch.where(alpha >= ALPHA_MIN, alpha, torch.zeros((), dtype=alpha.dtype))
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha[:, :-1]], 1), 1)
    return torch.bmm((alpha * trans).transpose(1, 2), feats), torch.log1p(-alpha).sum(1).double()


def test_chunk_composite_backward_matches_autograd():
    """The written-out backward against autograd, with opaque (clamped) and faint (cut) splats."""
    g = torch.Generator().manual_seed(5)
    k, chunk, pixels, features = 7, 9, 16, 5
    o = torch.arange(4, dtype=torch.float64) - 1.5
    ox, oy = o.repeat(4), o.repeat_interleave(4)
    basis = torch.stack([torch.ones_like(ox), ox, oy, ox * ox, oy * oy, ox * oy], 0)
    q = torch.cat([torch.randn(k, chunk, 1, generator=g, dtype=torch.float64) * 2.0 - 0.5,
                   0.5 * torch.randn(k, chunk, 2, generator=g, dtype=torch.float64),
                   -0.2 * torch.rand(k, chunk, 3, generator=g, dtype=torch.float64)], -1)
    feats = torch.rand(k, chunk, features, generator=g, dtype=torch.float64)
    alpha = torch.exp(q @ basis)
    assert bool((alpha > ALPHA_MAX).any()) and bool((alpha < ALPHA_MIN).any())  # both branches are exercised
    grad_sums = torch.randn(k, pixels, features, generator=g, dtype=torch.float64)
    grad_log = torch.randn(k, pixels, generator=g, dtype=torch.float64)
    results = []
    for composite in (ChunkComposite.apply, composite_by_autograd):
        qq, ff = q.clone().requires_grad_(), feats.clone().requires_grad_()
        sums, log_t = composite(qq, ff, basis)
        ((sums * grad_sums).sum() + (log_t * grad_log).sum()).backward()
        results.append((sums.detach(), log_t.detach(), qq.grad, ff.grad))
    for mine, reference in zip(*results):
        torch.testing.assert_close(mine, reference, rtol=1e-9, atol=1e-12)
    assert float(results[0][2].abs().max()) > 0.1  # gradients are not trivially zero


def test_gradients_match_finite_differences():
    torch.manual_seed(0)
    scene = random_scene(6, seed=3, dtype=torch.float64)
    with torch.no_grad():
        scene.params["means"].mul_(0.5)
    cams = Cameras.from_spherical(torch.tensor([20.0]), torch.tensor([15.0]), torch.tensor([2.5]), FOVY, 20, 20)
    weights = torch.rand(1, 20, 20, 5, dtype=torch.float64)

    def loss() -> torch.Tensor:
        config = SplatConfig(backend="torch", tile_size=4, chunk_size=4)
        r = render_gaussians(scene, cams, torch.tensor([0.3, 0.5, 0.7]), config)
        return (torch.cat([r.rgb, r.alpha, r.depth * r.alpha], -1) * weights).sum()

    scene.zero_grad()
    loss().backward()
    eps = 1e-6
    for name in ("means", "scales", "quats", "opacities", "sh0"):
        param = scene.params[name]
        flat = param.data.view(-1)
        for i in range(0, flat.numel(), max(1, flat.numel() // 6)):
            old = flat[i].item()
            with torch.no_grad():
                flat[i] = old + eps
                up = loss().item()
                flat[i] = old - eps
                down = loss().item()
                flat[i] = old
            numeric = (up - down) / (2 * eps)
            analytic = param.grad.view(-1)[i].item()
            assert abs(numeric - analytic) <= 1e-5 + 1e-4 * abs(numeric), (name, i, numeric, analytic)


def test_info_for_densification():
    scene = random_scene(40, seed=2)
    cams = Cameras.from_spherical(torch.tensor([0.0, 30.0]), torch.tensor([0.0, 90.0]), torch.tensor([2.5, 2.5]),
                                  FOVY, 24, 24)
    render = render_gaussians(scene, cams, torch.ones(2, 3), TORCH)
    info = render.extras["info"]
    assert info["means2d"].shape == (2, 40, 2) and info["radii"].shape == (2, 40, 2)
    assert (info["width"], info["height"], info["n_cameras"]) == (24, 24, 2)
    info["means2d"].retain_grad()
    render.rgb.sum().backward()
    visible = (info["radii"] > 0).all(-1)
    assert visible.any()
    assert info["means2d"].grad[visible].abs().sum() > 0
    assert info["means2d"].grad[~visible].abs().sum() == 0
    assert render.rgb.shape == (2, 24, 24, 3) and render.alpha.shape == (2, 24, 24, 1)


def test_backend_choice_on_cpu():
    if torch.cuda.is_available():
        pytest.skip("CPU-only check")
    assert splat_backend("auto") == "torch"
    with pytest.raises(MissingAcceleratorError):
        splat_backend("gsplat")
    with pytest.raises(ValueError):
        splat_backend("cuda")


def test_empty_view_renders_background():
    scene = make_scene([(5.0, 0.0, 0.0)], [math.log(0.05)], [0.9], [(1.0, 0.0, 0.0)])  # behind the camera
    render = render_gaussians(scene, front_camera(16), torch.tensor([0.1, 0.2, 0.3]), TORCH)
    assert torch.allclose(render.rgb, torch.tensor([0.1, 0.2, 0.3]).expand(1, 16, 16, 3))
    assert render.alpha.abs().max() == 0


def test_covariance_is_rotated_scale():
    q = torch.tensor([[math.cos(0.3), 0.0, 0.0, math.sin(0.3)]])  # 0.6 rad about z
    cov = covariances(q, torch.log(torch.tensor([[0.3, 0.1, 0.2]])))[0]
    c, s = math.cos(0.6), math.sin(0.6)
    R = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    assert torch.allclose(cov, R @ torch.diag(torch.tensor([0.09, 0.01, 0.04])) @ R.T, atol=1e-6)


def opaque_scene(n: int = 400, seed: int = 3) -> GaussianScene:
    """Large, nearly opaque Gaussians filling a cube: every ray saturates within its first few."""
    g = torch.Generator().manual_seed(seed)
    means = (torch.rand(n, 3, generator=g) - 0.5) * 0.8
    log_scales = torch.log(0.08 + 0.05 * torch.rand(n, 3, generator=g))
    opacity = torch.logit(0.9 + 0.09 * torch.rand(n, generator=g))
    return GaussianScene.from_tensors(means, log_scales, torch.randn(n, 4, generator=g), opacity,
                                      torch.rand(n, 3, generator=g))


def test_early_stop_skips_hidden_gaussians_within_eps(monkeypatch):
    import dream3d.render.splat as splat

    composited = []
    inner = splat._composite_chunks
    monkeypatch.setattr(splat, "_composite_chunks", lambda q, *a: composited.append(q.shape[0]) or inner(q, *a))
    scene, eps = opaque_scene(), 1e-4
    cams = Cameras.from_spherical(torch.tensor([20.0, -30.0]), torch.tensor([0.0, 135.0]), torch.tensor([2.2, 2.2]),
                                  FOVY, 48, 48)
    with torch.no_grad():
        proj = project(scene.means, scene.covariances(), scene.opacities, cams.w2c(), cams.intrinsics(), 48, 48)
        bg = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.5, 0.0]])
        full = rasterize(proj, scene.colors, bg, 48, 48, 4, 8)
        all_chunks = sum(composited)
        composited.clear()
        stopped = rasterize(proj, scene.colors, bg, 48, 48, 4, 8, early_stop_eps=eps)
    assert sum(composited) < 0.6 * all_chunks  # the chunks behind the opaque front are skipped
    rgb, alpha, depth = full
    assert alpha.amax() > 0.999
    assert (stopped[0] - rgb).abs().max() <= eps and (stopped[1] - alpha).abs().max() <= eps
    z_max = float(proj.depths.max())
    assert ((stopped[2] - depth) * alpha).abs().max() <= eps * z_max + 1e-5


def test_early_stop_is_off_while_recording_gradients_and_changes_nothing_on_faint_scenes():
    scene = random_scene(150, seed=1)  # faint: no pixel gets near eps transmittance
    cams = Cameras.from_spherical(torch.tensor([10.0]), torch.tensor([30.0]), torch.tensor([2.4]), FOVY, 22, 30)
    proj = project(scene.means, scene.covariances(), scene.opacities, cams.w2c(), cams.intrinsics(), 30, 22)
    bg = torch.ones(1, 3)
    full = rasterize(proj, scene.colors, bg, 30, 22, 8, 16)
    with_grad = rasterize(proj, scene.colors, bg, 30, 22, 8, 16, early_stop_eps=0.5)
    assert with_grad[0].requires_grad
    assert all(torch.equal(a, b) for a, b in zip(full, with_grad))  # the training path ignores it
    with torch.no_grad():
        stopped = rasterize(proj, scene.colors, bg, 30, 22, 8, 16, early_stop_eps=1e-4)
    assert all(torch.allclose(a, b.detach(), atol=1e-6) for a, b in zip(stopped, full))


def test_early_stop_eps_is_range_checked():
    from dream3d.config import ConfigError
    from dream3d.methods.dreamgaussian import DreamGaussianRunConfig, validate

    config = DreamGaussianRunConfig()
    config.system.splat.early_stop_eps = 1.5
    with pytest.raises(ConfigError, match="early_stop_eps"):
        validate(config)
