"""The text prior's view-word phase: what each batch holds and how its captions read."""
import random

import pytest
import torch

from dream3d.prior.shapes_data import CaptionConfig, ShapesDataset, draw_caption
from dream3d.prior.view_phase import ViewPhaseConfig, draw_batch, featured_captions, featured_views, featured_weights


def dataset(shapes: list[str], views: list[str]) -> ShapesDataset:
    n = len(shapes)
    return ShapesDataset(torch.zeros(n, 3, 4, 4, dtype=torch.uint8), ["red"] * n, shapes, views)


def test_featured_views_are_the_front_and_back_views_of_shapes_with_a_front():
    data = dataset(["mug", "mug", "cube", "chair", "chair", "mug", "cube"],
                   ["front", "side", "front", "back", "overhead", "back", "back"])
    assert featured_views(data).tolist() == [0, 3, 5]


def test_a_dataset_without_them_is_refused_by_name():
    with pytest.raises(ValueError, match="front or back view of a mug or a chair"):
        featured_views(dataset(["mug", "cube"], ["side", "front"]))


def test_the_share_comes_from_the_featured_views_and_the_rest_from_anywhere():
    featured = torch.tensor([3, 7, 11])
    index, n = draw_batch(32, 1000, featured, 0.5, torch.Generator().manual_seed(0))
    assert n == 16 and index.shape == (32,)
    assert set(index[:16].tolist()) <= {3, 7, 11}
    assert len(set(index[16:].tolist()) - {3, 7, 11}) >= 14  # 16 uniform draws from 1000


def test_without_featured_views_a_batch_is_the_first_phases_draw():
    """The first phase's weights do not change with the view phase's arrival."""
    index, n = draw_batch(32, 1000, None, 0.5, torch.Generator().manual_seed(5))
    assert n == 0 and torch.equal(index, torch.randint(0, 1000, (32,), generator=torch.Generator().manual_seed(5)))


def test_a_chair_share_gives_the_chairs_that_share_of_the_featured_draws():
    # 1 chair view against 3 mug views: uniform draws would give the chair a quarter
    data = dataset(["mug", "chair", "mug", "mug", "cube"], ["front", "back", "back", "front", "front"])
    featured = featured_views(data)
    weights = featured_weights(data, featured, 0.75)
    assert weights.tolist() == pytest.approx([0.25 / 3, 0.75, 0.25 / 3, 0.25 / 3])
    index, n = draw_batch(4000, 5, featured, 1.0, torch.Generator().manual_seed(0), weights)
    assert n == 4000 and set(index.tolist()) <= {0, 1, 2, 3}
    assert (index == 1).float().mean().item() == pytest.approx(0.75, abs=0.03)
    assert (index == 0).float().mean().item() == pytest.approx(0.25 / 3, abs=0.02)


def test_no_chair_share_means_uniform_draws_and_a_bad_share_is_refused():
    data = dataset(["mug", "chair"], ["front", "back"])
    assert featured_weights(data, featured_views(data), None) is None
    with pytest.raises(ValueError, match="both chairs and mugs"):
        featured_weights(dataset(["mug"], ["front"]), torch.tensor([0]), 0.5)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        ViewPhaseConfig(chair_share=1.5)
    with pytest.raises(ValueError, match="at least 0"):
        ViewPhaseConfig(text_lr_scale=-1.0)
    with pytest.raises(ValueError, match="featured_share"):
        ViewPhaseConfig(featured_share=-0.1)


def test_featured_captions_always_name_their_view_unless_empty():
    rule, rng = featured_captions(CaptionConfig()), random.Random(0)
    captions = [draw_caption("red", "mug", "back", rng, rule) for _ in range(400)]
    named = [c for c in captions if c]
    assert all(c.endswith(", back view") for c in named)
    assert 0.05 < 1 - len(named) / len(captions) < 0.15  # the empty captions of classifier-free guidance stay


def test_the_training_command_refuses_a_bad_view_option_before_any_work(tmp_path, capsys):
    from dream3d.prior.train_shapes import main

    with pytest.raises(SystemExit) as stop:
        main(["--out", str(tmp_path / "prior"), "--quick", "--view-chair-share", "2"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "--view-chair-share: chair_share must be in [0, 1]" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing rendered, nothing written


def test_the_training_command_passes_its_view_options_to_the_phases(tmp_path):
    """One value applies to every view phase, one per phase to each in turn ("none": as the data holds)."""
    import json

    from dream3d.prior.train_shapes import main

    main(["--out", str(tmp_path / "prior"), "--quick", "--view-featured-share", "0.75", "--view-chair-share", "none", "0.6",
          "--view-text-lr-scale", "2"])
    log = json.loads((tmp_path / "prior" / "training_log.json").read_text())
    phases = [(p["steps"], p["featured_share"], p["chair_share"], p["text_lr_scale"]) for p in log["config"]["view_phases"]]
    assert phases == [(3, 0.75, None, 2.0), (3, 0.75, 0.6, 2.0)]
    assert "unet_view1_final_loss" in log and "unet_view2_final_loss" in log


def test_the_view_steps_option_sets_how_many_view_phases_run(tmp_path):
    import json

    from dream3d.prior.train_shapes import main

    main(["--out", str(tmp_path / "one"), "--quick", "--view-steps", "2"])
    log = json.loads((tmp_path / "one" / "training_log.json").read_text())
    assert [p["steps"] for p in log["config"]["view_phases"]] == [2]
    assert "unet_view1_final_loss" in log and "unet_view2_final_loss" not in log
    main(["--out", str(tmp_path / "none"), "--quick", "--view-steps", "0"])
    log = json.loads((tmp_path / "none" / "training_log.json").read_text())
    assert log["config"]["view_phases"] == [] and not any(k.startswith("unet_view") for k in log)


def test_a_view_option_with_the_wrong_number_of_values_is_refused_before_any_work(tmp_path, capsys):
    from dream3d.prior.train_shapes import main

    with pytest.raises(SystemExit) as stop:
        main(["--out", str(tmp_path / "prior"), "--quick", "--view-chair-share", "0.1", "0.2", "0.3"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "--view-chair-share: give one value, or one for each of the 2 view phases; got 3" in err
    assert "Traceback" not in err and not any(tmp_path.iterdir())
    with pytest.raises(SystemExit) as stop:
        main(["--out", str(tmp_path / "prior"), "--quick", "--view-chair-share", "most"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "expected a number or 'none'; got 'most'" in err and not any(tmp_path.iterdir())


def test_the_shipped_view_phases_teach_the_words_then_the_chairs():
    from dream3d.prior.train_shapes import TrainConfig
    from dream3d.prior.view_phase import SHIPPED_VIEW_PHASES

    assert TrainConfig().view_phases == SHIPPED_VIEW_PHASES
    assert [(p.steps, p.chair_share, p.seed_offset) for p in SHIPPED_VIEW_PHASES] == [(1500, None, 1), (1500, 0.75, 1)]
