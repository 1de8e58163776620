"""The opacity-entropy regulariser: its formula, its gradient's sign, and its wiring into a NeRF."""
import math

import torch
import torch.nn.functional as F

from dream3d.render.opacity_entropy import opacity_entropy


def test_entropy_is_the_binary_entropy_in_nats():
    assert math.isclose(opacity_entropy(torch.tensor([0.5])).item(), math.log(2.0), rel_tol=1e-6)
    a = torch.tensor([0.1, 0.3, 0.8, 0.95])
    expected = -(a * a.log() + (1 - a) * (1 - a).log()).mean()
    assert torch.allclose(opacity_entropy(a), expected)
    # The same as the cross-entropy of a with itself (threestudio's form of the term).
    assert torch.allclose(opacity_entropy(a), F.binary_cross_entropy(a, a))


def test_entropy_is_nearly_zero_at_empty_and_solid_pixels():
    assert opacity_entropy(torch.tensor([0.0, 1.0])).item() < 0.01


def test_gradient_pushes_opacity_away_from_one_half():
    a = torch.tensor([0.2, 0.45, 0.55, 0.9], requires_grad=True)
    opacity_entropy(a).backward()
    # Gradient descent moves a by -grad: down below one half, up above it.
    assert (a.grad[:2] > 0).all() and (a.grad[2:] < 0).all()
    expected = torch.log((1 - a.detach()) / a.detach()) / a.numel()  # dH/da = log((1 - a) / a)
    assert torch.allclose(a.grad, expected, atol=1e-6)


def test_gradient_stays_finite_at_zero_and_one():
    a = torch.tensor([0.0, 1.0], requires_grad=True)
    opacity_entropy(a).backward()
    assert torch.isfinite(a.grad).all()


def test_nerf_representation_returns_the_term_it_is_asked_for():
    from dream3d.representations.nerf import NeRFRepresentation, NeRFSceneConfig
    from dream3d.render.types import Render
    from dream3d.scene.initial_shape import InitialShapeConfig
    from dream3d.scene.nerf import NeRFConfig

    nerf = NeRFRepresentation(NeRFSceneConfig(nerf=NeRFConfig(initial_shape=InitialShapeConfig(steps=0))),
                              torch.device("cpu"))
    alpha = torch.full((1, 4, 4, 1), 0.5)
    render = Render(rgb=torch.zeros(1, 4, 4, 3), alpha=alpha)
    terms = nerf.regularisers(render, ("opacity_entropy",))
    assert set(terms) == {"opacity_entropy"}
    assert math.isclose(terms["opacity_entropy"].item(), math.log(2.0), rel_tol=1e-6)


def test_every_nerf_loss_weight_reaches_the_stage_as_a_known_term():
    import dataclasses

    from dream3d.methods.dreamfusion import DreamFusionConfig, NeRFLossConfig, nerf_stage
    from dream3d.representations.nerf import REGULARISERS

    weights = NeRFLossConfig(sds=2.0, orientation=0.1, opacity_sparsity=0.2, opacity_entropy=0.3, grid_tv=0.4)
    stage = nerf_stage(DreamFusionConfig(loss=weights), steps=10)
    assert stage.losses["guidance"] == 2.0
    regularisers = {name: weight for name, weight in stage.losses.items() if name != "guidance"}
    assert set(regularisers) <= set(REGULARISERS)
    assert regularisers == {f.name: getattr(weights, f.name) for f in dataclasses.fields(weights) if f.name != "sds"}
