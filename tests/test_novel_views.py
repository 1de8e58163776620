"""Novel-view metrics: perfect on a perfect reconstruction, and equal to references elsewhere."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dream3d.cameras import orbit_cameras
from dream3d.eval.novel_views import mask_iou, psnr, score_views, ssim
from dream3d.prior.shapes_data import render


def test_a_perfect_reconstruction_scores_perfectly():
    cameras = orbit_cameras(8, elevation=20.0, distance=2.5, fovy=40.0, height=48, width=48)
    rgb, alpha = render(["mug"] * 8, ["orange"] * 8, cameras, supersample=1)
    scores = score_views(rgb, alpha, rgb.clone(), alpha.clone())
    assert scores.psnr == math.inf and scores.ssim == pytest.approx(1.0) and scores.mask_iou == 1.0 and scores.views == 8


def test_psnr_and_iou_formulas():
    a, b = torch.zeros(3, 8, 8), torch.full((3, 8, 8), 0.1)
    assert psnr(a, b) == pytest.approx(20.0)  # MSE 0.01
    m1, m2 = torch.zeros(1, 4, 4), torch.zeros(1, 4, 4)
    m1[:, :2], m2[:, 1:3] = 1.0, 1.0  # rows 0-1 vs rows 1-2: overlap 4, union 12
    assert mask_iou(m1, m2) == pytest.approx(4 / 12)


def test_ssim_matches_scikit_image():
    from skimage.metrics import structural_similarity

    generator = torch.Generator().manual_seed(0)
    x = torch.rand(3, 40, 40, generator=generator)
    y = (x + 0.1 * torch.randn(3, 40, 40, generator=generator)).clamp(0, 1)
    reference = structural_similarity(x.permute(1, 2, 0).numpy().astype(np.float64), y.permute(1, 2, 0).numpy().astype(np.float64),
                                      channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=True,
                                      data_range=1.0)
    # scikit-image averages over the region the window fits in, as here: the same number
    assert ssim(x, y) == pytest.approx(reference, abs=1e-6)


def test_view_check_scores_the_truth_perfectly_and_a_blank_view_badly(monkeypatch):
    """``--view-samples``' scoring: a sampler that returns the true new view scores SSIM 1 and IoU 1;
    one that returns white scores IoU 0. Seen and held-out pairs are counted apart."""
    import dream3d.eval.view_prior_samples as module

    pairs = module.all_prompts()[:2] + [p for p in module.all_prompts() if p.held_out][:1]
    monkeypatch.setattr(module, "all_prompts", lambda: pairs)

    references = [(p, module.true_view(p.shape, p.colour, 0.0, 32)[0]) for p in pairs]

    def oracle(reference, elevation, azimuth):
        match = next(p for p, image in references if torch.equal(image, reference))
        return module.true_view(match.shape, match.colour, azimuth, 32)[0]

    perfect = module.summarise_views(module.check_views(oracle, size=32, azimuths=(90.0,)))
    blank = module.summarise_views(module.check_views(lambda r, e, a: torch.ones(2, 3, 32, 32), size=32,
                                                      azimuths=(90.0, 180.0)))
    assert perfect["seen"]["ssim"] == pytest.approx(1.0) and perfect["seen"]["mask_iou"] == 1.0
    assert perfect["seen"]["pairs"] == 2 and perfect["held_out"]["pairs"] == 1
    assert blank["seen"]["mask_iou"] == 0.0 and blank["seen"]["samples"] == 2 * 2 * 2
    assert blank["seen"]["psnr"] < 20.0


def test_view_samples_command_scores_a_zero123_layout_prior(tmp_path, monkeypatch, capsys):
    """``python -m dream3d.eval --view-samples --prior DIR``: a (tiny, random) view-conditioned prior's
    new views are scored per split and written to view_samples.json."""
    import json

    from tiny_zero123 import write_tiny_zero123

    import dream3d.eval.view_prior_samples as module
    from dream3d.eval.__main__ import main

    pairs = module.all_prompts()[:1] + [p for p in module.all_prompts() if p.held_out][:1]
    monkeypatch.setattr(module, "all_prompts", lambda: pairs)
    monkeypatch.setattr(module, "TARGET_AZIMUTHS", (90.0, 180.0))
    prior = write_tiny_zero123(tmp_path / "zero123")
    assert main(["--view-samples", "--prior", str(prior), "--samples", "2", "--sample-steps", "2",
                 "--output-dir", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "view_samples.json").read_text())
    assert summary["seen"]["pairs"] == 1 and summary["held_out"]["samples"] == 2
    assert 0.0 <= summary["seen"]["mask_iou"] <= 1.0 and -1.0 <= summary["seen"]["ssim"] <= 1.0
    out = capsys.readouterr().out
    assert "held_out: PSNR" in out and "pose response" in out
    shapes = [row["shape"] for row in summary["pose_response"]["shapes"]]
    assert shapes == ["mug", "chair"]  # the others look the same from every azimuth scored


@pytest.mark.parametrize("flags", [["--view-samples", "--prior", "no/such-prior"], ["--prior-samples", "--prior", "no/such-prior"],
                                   ["--view-samples", "--sample-steps", "0"]])
def test_prior_checks_refuse_bad_input_with_exit_2_and_no_traceback(tmp_path, capsys, flags):
    from dream3d.eval.__main__ import main

    assert main([*flags, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and not (tmp_path / "out").exists()
