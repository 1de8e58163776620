"""The Gaussian scene: initialisation, learning rates, density query and densification."""
from __future__ import annotations

import math

import pytest
import torch

from dream3d.cameras import Cameras
from dream3d.render.splat import SplatConfig, render_gaussians
from dream3d.scene.gaussians import (
    Densifier,
    DensifyConfig,
    GaussianConfig,
    GaussianScene,
    gaussian_density,
    log_linear_lr,
)

TORCH = SplatConfig(backend="torch")


pytestmark = pytest.mark.usefixtures("one_thread")


def test_initialisation_follows_dreamgaussian():
    scene = GaussianScene(GaussianConfig(num_points=500), generator=torch.Generator().manual_seed(0))
    p = scene.params
    assert p["means"].shape == (500, 3) and p["scales"].shape == (500, 3) and p["quats"].shape == (500, 4)
    assert p["opacities"].shape == (500,) and p["sh0"].shape == (500, 1, 3)
    assert scene.means.norm(dim=-1).max() <= 0.5 + 1e-6
    assert scene.means.norm(dim=-1).median() > 0.3  # uniform in the ball, not clumped at the centre
    assert torch.allclose(scene.opacities, torch.full((500,), 0.1))
    assert ((scene.colors - 0.5).abs() < 0.01).all()
    assert 0.005 < scene.scales.median() < 0.1


def test_position_lr_decays_log_linearly():
    config = GaussianConfig(num_points=10, position_lr_init=1e-3, position_lr_final=1e-5, position_lr_max_steps=100)
    scene = GaussianScene(config)
    assert scene.position_lr(0) == pytest.approx(1e-3)
    assert scene.position_lr(50) == pytest.approx(1e-4)
    assert scene.position_lr(100) == pytest.approx(1e-5)
    assert scene.position_lr(1000) == pytest.approx(1e-5)
    assert log_linear_lr(0, 1.0, 0.1, 10, delay_steps=10, delay_mult=0.5) == pytest.approx(0.5)
    optimizers = scene.make_optimizers()
    assert set(optimizers) == {"means", "scales", "quats", "opacities", "sh0"}
    scene.update_learning_rate(optimizers, 50)
    assert optimizers["means"].param_groups[0]["lr"] == pytest.approx(1e-4)
    single = torch.optim.Adam(scene.param_groups())
    scene.update_learning_rate(single, 100)
    lrs = {g["name"]: g["lr"] for g in single.param_groups}
    assert lrs["means"] == pytest.approx(1e-5) and lrs["opacities"] == pytest.approx(0.05)


def one_gaussian(mean, scales, quat, opacity, rgb) -> GaussianScene:
    return GaussianScene.from_tensors(
        torch.tensor([mean]), torch.log(torch.tensor([scales])), torch.tensor([quat]),
        torch.logit(torch.tensor([opacity])), torch.tensor([rgb]))


def test_density_of_one_gaussian_matches_formula():
    half = 0.5 * math.acos(-1) / 6  # 30 degrees about x
    quat = (math.cos(half), math.sin(half), 0.0, 0.0)
    scene = one_gaussian((0.1, -0.2, 0.05), (0.2, 0.05, 0.1), quat, 0.7, (0.9, 0.4, 0.1))
    points = torch.rand(4000, 3, generator=torch.Generator().manual_seed(0)) * 1.6 - 0.8
    sigma = scene.covariances()[0].double()
    d = points.double() - scene.means[0].double()
    m = torch.einsum("ni,ij,nj->n", d, torch.linalg.inv(sigma), d)
    expected = 0.7 * torch.exp(-0.5 * m) * (m <= 9.0)
    with torch.no_grad():
        density, albedo = scene.density_and_albedo(points)
    assert torch.allclose(density.double(), expected, atol=1e-5)
    assert (expected > 0.01).sum() > 50  # the test really samples the inside
    inside = density > 0
    assert torch.allclose(albedo[inside], torch.tensor([0.9, 0.4, 0.1]).expand(int(inside.sum()), 3), atol=1e-5)
    assert albedo[~inside].abs().max() == 0
    with torch.no_grad():
        assert torch.allclose(scene.density(points), density)


def test_density_query_matches_brute_force():
    g = torch.Generator().manual_seed(1)
    n = 300
    means = torch.rand(n, 3, generator=g) - 0.5
    log_scales = torch.log(0.01 + 0.1 * torch.rand(n, 3, generator=g))
    scene = GaussianScene.from_tensors(means, log_scales, torch.randn(n, 4, generator=g),
                                       torch.randn(n, generator=g), torch.rand(n, 3, generator=g))
    points = torch.rand(3000, 3, generator=g) * 1.4 - 0.7
    with torch.no_grad():
        density, albedo = gaussian_density(points, scene.means, scene.covariances(), scene.opacities, scene.colors,
                                           block=5000)
        d = points[:, None] - scene.means[None]
        m = torch.einsum("pgi,gij,pgj->pg", d, torch.linalg.inv(scene.covariances()), d)
        w = scene.opacities * torch.exp(-0.5 * m) * (m <= 9.0)
    assert torch.allclose(density, w.sum(1), atol=1e-5)
    hit = w.sum(1) > 1e-3
    assert torch.allclose(albedo[hit], (w @ scene.colors)[hit] / w.sum(1)[hit, None], atol=1e-4)


def test_densifier_grows_and_prunes_in_a_short_fit():
    torch.manual_seed(0)
    cfg = GaussianConfig(num_points=60, init_opacity=0.5, densify=DensifyConfig(
        refine_start_iter=5, refine_every=10, refine_stop_iter=1000, grow_grad2d=2e-5, grow_scale3d=0.05,
        prune_opa=0.3, reset_every=0))
    scene = GaussianScene(cfg, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        scene.params["opacities"][:10] = math.log(0.05 / 0.95)  # ten Gaussians below prune_opa
        scene.params["scales"][:30] += math.log(3.0)  # some large (split), some small (clone)
    optimizers = scene.make_optimizers()
    densifier = Densifier(cfg.densify, scene, optimizers)
    cams = Cameras.from_spherical(torch.tensor([20.0]), torch.tensor([30.0]), torch.tensor([2.5]), 40.0, 24, 24)
    v, u = torch.meshgrid(torch.linspace(0, 1, 24), torch.linspace(0, 1, 24), indexing="ij")
    target = torch.stack([u, v, 1 - u * v], -1)[None]
    counts, transparent = [], []
    for step in range(31):
        render = render_gaussians(scene, cams, torch.ones(3), TORCH)
        info = render.extras["info"]
        densifier.before_backward(step, info)
        loss = (render.rgb - target).abs().mean()
        loss.backward()
        densifier.after_backward(step, info)
        transparent.append(int((scene.opacities < 0.3).sum()))
        for opt in optimizers.values():
            opt.step()
            opt.zero_grad(set_to_none=True)
        counts.append(scene.num_gaussians)
    grew = any(b > a for a, b in zip(counts, counts[1:]))
    assert grew, counts
    assert counts[10] != counts[9]
    assert transparent[9] >= 10 and transparent[10] == 0  # the refine at step 10 pruned them
    assert scene.params["means"] is optimizers["means"].param_groups[0]["params"][0]
    assert densifier.state["grad2d"].shape[0] == scene.num_gaussians
    # a checkpoint of a densified scene loads into a fresh one
    fresh = GaussianScene(GaussianConfig(num_points=60))
    fresh.load_state_dict(scene.state_dict())
    assert fresh.num_gaussians == scene.num_gaussians
    assert torch.equal(fresh.params["means"], scene.params["means"])


def test_pruning_removes_transparent_gaussians():
    densify = DensifyConfig(refine_start_iter=0, refine_every=1, grow_grad2d=1e9, prune_opa=0.05, reset_every=0)
    cfg = GaussianConfig(num_points=50, densify=densify)
    scene = GaussianScene(cfg, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        scene.params["opacities"][:20] = -6.0
    optimizers = scene.make_optimizers()
    densifier = Densifier(cfg.densify, scene, optimizers)
    cams = Cameras.from_spherical(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([2.5]), 40.0, 16, 16)
    render = render_gaussians(scene, cams, torch.ones(3), TORCH)
    densifier.before_backward(1, render.extras["info"])
    render.rgb.mean().backward()
    densifier.after_backward(1, render.extras["info"])
    assert scene.num_gaussians == 30
    assert (scene.opacities >= 0.05).all()


def test_opacity_reset_clamps_and_clears_moments():
    cfg = GaussianConfig(num_points=20, init_opacity=0.6)
    scene = GaussianScene(cfg)
    optimizers = scene.make_optimizers()
    scene.params["opacities"].grad = torch.ones(20)
    optimizers["opacities"].step()
    densifier = Densifier(cfg.densify, scene, optimizers)
    densifier.reset_opacities(0.02)
    assert torch.allclose(scene.opacities, torch.full((20,), 0.02))
    assert optimizers["opacities"].state[scene.params["opacities"]]["exp_avg"].abs().max() == 0
