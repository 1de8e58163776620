"""Ground-truth evaluation of image-to-3D: the true asset scores as well as the renderers allow,
and the batch command runs end to end on a tiny prior."""
from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
from tiny_runs import TINY
from tiny_zero123 import write_tiny_zero123

from dream3d.eval.canonical import canonical_mesh
from dream3d.eval.image_batch import NOVEL_AZIMUTHS, novel_cameras, true_image
from dream3d.eval.mesh_views import render_asset
from dream3d.eval.novel_views import score_views
from dream3d.prior.catalog import COLOURS
from dream3d.prior.shapes_data import render


@pytest.mark.parametrize("shape", ["cube", "mug"])
def test_the_true_object_scores_near_perfectly_on_the_novel_views(shape):
    """The canonical mesh in the true colour, lit as the dataset lights: only anti-aliasing and
    flat normals separate it from the true renders."""
    mesh = canonical_mesh(shape).copy()
    colour = (np.array(COLOURS["red"]) * 255).round().astype(np.uint8)
    mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=np.tile([*colour, 255], (len(mesh.vertices), 1)))
    cameras = novel_cameras(15.0, 64)
    assert all(0 < a % 90 for a in NOVEL_AZIMUTHS)  # never the input view (azimuth 0)
    scores = score_views(*render_asset(mesh, cameras), *render([shape] * 8, ["red"] * 8, cameras, supersample=3))
    assert scores.mask_iou > 0.99 and scores.ssim > 0.95 and scores.psnr > 25.0
    # a wrong colour costs PSNR, and the wrong shape costs IoU
    wrong = canonical_mesh("sphere").copy()
    wrong.visual = trimesh.visual.ColorVisuals(wrong, vertex_colors=np.tile([*colour, 255], (len(wrong.vertices), 1)))
    assert score_views(*render_asset(wrong, cameras), *render([shape] * 8, ["red"] * 8, cameras, supersample=3)).mask_iou < 0.9


def test_the_input_is_a_true_rgba_render():
    image = true_image("blue", "chair", 15.0, size=64)
    assert image.shape == (64, 64, 4) and image.dtype == np.uint8
    assert 0.05 < (image[..., 3] > 127).mean() < 0.6 and image[0, 0, 3] == 0


def test_image_batch_command_makes_and_scores_assets(tmp_path):
    from dream3d.eval.__main__ import main

    prior = write_tiny_zero123(tmp_path / "zero123")
    prompts = tmp_path / "pairs.txt"
    prompts.write_text("a red mug\n")
    code = main(["--image-batch", str(prompts), "--config", "configs/dreamgaussian-image.yaml", "--seeds", "0",
                 "--output-dir", str(tmp_path / "out"), f"system.prior.pretrained={prior}", "system.image.size=32",
                 "device=cpu", *TINY])
    assert code == 0
    report = json.loads((tmp_path / "out" / "image_eval.json").read_text())
    row = report["rows"][0]
    assert row["prompt"] == "a red mug" and row["seed"] == 0 and 0.0 <= row["mask_iou"] <= 1.0
    assert report["summary"]["seen"]["assets"] == 1 and "novel views (8 each)" in (tmp_path / "out" / "image_eval.md").read_text()
    assert 0.0 <= row["normal_consistency"] <= 1.0 and row["seconds"] > 0 and row["janus"] is not None


def test_batch_overrides_are_not_taken_for_a_path(monkeypatch, tmp_path):
    """``--batch F --config C key=value``: the first override reaches the runs (argparse would
    otherwise read it as the positional run path)."""
    import dream3d.eval.__main__ as cli

    seen = {}

    class Report:
        interrupted = False

        def markdown(self) -> str:
            return ""

    def fake_run_batch(prompts, config, overrides, out_dir, seeds=None):
        seen["overrides"] = overrides
        return Report()

    monkeypatch.setattr(cli, "run_batch", fake_run_batch)
    prompts = tmp_path / "p.txt"
    prompts.write_text("a red cube\n")
    assert cli.main(["--batch", str(prompts), "--config", "configs/dreamgaussian-fast.yaml", "trainer.video=false",
                     "seed=1"]) == 0
    assert seen["overrides"] == ["trainer.video=false", "seed=1"]


@pytest.mark.parametrize(("argv", "fill"), [([], 0.0), (["--fill", "0.6"], 0.6)])
def test_image_batch_keeps_the_true_framing_unless_told_to_reframe(monkeypatch, tmp_path, argv, fill):
    """By default the input keeps the true camera's framing; ``--fill`` re-frames it as a user's image is."""
    import dream3d.service
    from dream3d.eval.__main__ import main

    fills = []
    monkeypatch.setattr(dream3d.service, "train", lambda config, run_dir, overwrite: fills.append(config.system.image.fill))
    prompts = tmp_path / "pairs.txt"
    prompts.write_text("a red mug\n")
    main(["--image-batch", str(prompts), "--config", "configs/dreamgaussian-image.yaml", "--seeds", "0",
          "--output-dir", str(tmp_path / "out"), *argv])
    assert fills == [fill]
