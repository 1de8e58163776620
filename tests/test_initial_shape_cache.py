"""The initial-shape fit is done once and reused, without changing any run."""
from __future__ import annotations

import torch

from dream3d.scene.encodings import EncodingConfig
from dream3d.scene.initial_shape import InitialShapeConfig
from dream3d.scene.initial_shape_cache import fit_initial_shape_cached
from dream3d.scene.nerf import NeRFConfig, NeRFField

CONFIG = InitialShapeConfig(steps=20, points_per_step=512)


def fitted(directory, seed: int = 0) -> tuple[dict, torch.Tensor, bool]:
    """A field built and fitted at ``seed``, the next random draw after it, and whether the cache was hit."""
    torch.manual_seed(seed)
    field = NeRFField(NeRFConfig(encoding=EncodingConfig(type="densegrid", dense_resolution=8, dense_features=4), hidden_dim=16))
    hit = fit_initial_shape_cached(field, CONFIG, directory)
    return {k: v.clone() for k, v in field.state_dict().items()}, torch.rand(3), hit


def test_a_cached_fit_gives_the_same_weights_and_random_state(tmp_path):
    first, draw_after_first, hit = fitted(tmp_path)
    assert not hit and len(list(tmp_path.glob("*.pt"))) == 1
    second, draw_after_second, hit = fitted(tmp_path)
    assert hit
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert torch.equal(draw_after_first, draw_after_second)  # the run goes on as if it had fitted


def test_a_different_start_is_a_different_entry_and_a_damaged_entry_is_refitted(tmp_path):
    fitted(tmp_path, seed=0)
    _, _, hit = fitted(tmp_path, seed=1)
    assert not hit and len(list(tmp_path.glob("*.pt"))) == 2
    for entry in tmp_path.glob("*.pt"):
        entry.write_bytes(b"not a checkpoint")
    weights, _, hit = fitted(tmp_path, seed=0)
    assert not hit
    reference, _, _ = fitted(tmp_path / "fresh", seed=0)
    assert all(torch.equal(weights[k], reference[k]) for k in weights)
