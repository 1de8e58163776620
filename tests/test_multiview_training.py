"""The bundled multi-view prior's training (``dream3d.prior.train_multiview``) and its 2D check
(``python -m dream3d.eval --multiview-samples``)."""
from __future__ import annotations

import json

import pytest
import torch

from dream3d.cameras import Cameras


def test_view_groups_are_mvdreams_layout_and_object_major(one_thread):
    from dream3d.prior.multiview_data import MultiViewDataConfig, build_multiview_dataset

    data = build_multiview_dataset(MultiViewDataConfig(groups_per_pair=2, supersample=1), progress=False)
    assert data.images.shape == (40 * 2 * 4, 3, 64, 64) and data.groups == 80 and data.c2w.shape == (320, 4, 4)
    position = data.c2w[:, :3, 3].view(80, 4, 3)
    azimuth = torch.rad2deg(torch.atan2(position[..., 1], position[..., 0]))  # [G,4]
    step = (azimuth[:, 1:] - azimuth[:, :-1]) % 360.0
    assert torch.allclose(step, torch.full_like(step, 90.0), atol=1e-3)
    radius, height = position.norm(dim=-1), position[..., 2]
    assert torch.allclose(radius, radius[:, :1].expand_as(radius), atol=1e-4)
    assert torch.allclose(height, height[:, :1].expand_as(height), atol=1e-4)
    assert data.group_images(torch.tensor([3, 0])).tolist() == [12, 13, 14, 15, 0, 1, 2, 3]
    assert data.colours[0::2] == data.colours[1::2]  # two groups per pair, pair by pair


def test_the_multiview_unet_starts_as_the_text_unet(quick_prior, one_thread):
    """Zero camera MLP and one view: the text prior's noise prediction, exactly, for any camera."""
    from dream3d.prior.model import TextToImagePrior
    from dream3d.prior.multiview_attention import install_multiview_attention
    from dream3d.prior.train_multiview import multiview_unet_from

    text = TextToImagePrior.from_pretrained(str(quick_prior))
    unet = multiview_unet_from(text.unet, 4).eval()
    install_multiview_attention(unet, 1)
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(4, 4, 16, 16, generator=generator)
    t = torch.tensor([10, 200, 500, 900])
    context = torch.randn(4, text.tokenizer.model_max_length, text.unet.config.cross_attention_dim, generator=generator)
    cameras = torch.randn(4, 16, generator=generator)
    with torch.no_grad():
        expected = text.unet(z, t, encoder_hidden_states=context).sample
        got = unet(z, t, encoder_hidden_states=context, class_labels=cameras).sample
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_training_writes_a_multiview_prior_that_loads_and_samples(quick_prior, tmp_path):
    """A seconds-long run writes a folder that loads through the real path; the 2D check runs on
    it through the command; a second run is bit-identical."""
    from safetensors.torch import load_file

    from dream3d.eval.__main__ import main as eval_main
    from dream3d.prior.multiview import MultiViewPrior
    from dream3d.prior.train_multiview import main as train_mv

    train_mv(["--out", str(tmp_path / "mv"), "--base", str(quick_prior), "--quick"])
    prior = MultiViewPrior.from_pretrained(str(tmp_path / "mv"))
    assert prior.num_views == 4 and prior.camera_yaw_degrees == 0.0 and "mug" in prior.vocabulary
    text_vae = load_file(quick_prior / "vae" / "diffusion_pytorch_model.safetensors")
    mv_vae = load_file(tmp_path / "mv" / "vae" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(text_vae[k], mv_vae[k]) for k in text_vae)

    code = eval_main(["--multiview-samples", "--prior", str(tmp_path / "mv"), "--samples", "1", "--sample-steps", "1",
                      "--output-dir", str(tmp_path / "check")])
    summary = json.loads((tmp_path / "check" / "multiview_samples.json").read_text())
    assert code == 0 and summary["seen"]["pairs"] == 40 and summary["held_out"]["pairs"] == 8
    assert summary["seen"]["featured_groups"] == 10 and summary["held_out"]["featured_groups"] == 2 and 0.0 <= summary["seen"]["one_sided"] <= 1.0

    train_mv(["--out", str(tmp_path / "again"), "--base", str(quick_prior), "--quick"])
    first = load_file(tmp_path / "mv" / "unet" / "diffusion_pytorch_model.safetensors")
    second = load_file(tmp_path / "again" / "unet" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(first[k], second[k]) for k in first)


def true_groups(shape: str, colour: str, cameras: Cameras) -> torch.Tensor:
    from dream3d.prior.shapes_data import render

    rgb, _ = render([shape] * len(cameras), [colour] * len(cameras), cameras, supersample=2)
    return rgb


@pytest.mark.parametrize("shape", ["mug", "chair"])
def test_the_2d_check_passes_true_view_groups_and_flags_a_janus_group(shape, one_thread):
    """True renders at the group cameras are one-sided; a group that shows every camera the
    view with the feature on the right (the front half's view) is not."""
    from dream3d.eval.multiview_prior_samples import group_cameras, score_groups, shape_bank

    cameras = group_cameras(2, 4, 64)
    shapes = shape_bank()
    truth = score_groups(true_groups(shape, "red", cameras), cameras.azimuth, f"a red {shape}", 4, shapes)
    assert truth.accuracy >= 0.75 and truth.feature_side == 1.0 and truth.one_sided == 1.0
    assert truth.azimuth_within_45 >= 0.75

    front = torch.cos(torch.deg2rad(cameras.azimuth)) > 0.5  # views of the front half
    janus = true_groups(shape, "red", cameras)
    first_front = int(torch.nonzero(front)[0])
    back = torch.cos(torch.deg2rad(cameras.azimuth)) < -0.5
    janus[back] = janus[first_front].clone()  # the feature's front-half side painted on the back too
    flagged = score_groups(janus, cameras.azimuth, f"a red {shape}", 4, shapes)
    assert flagged.one_sided == 0.0 and flagged.feature_side <= 0.5


def test_high_noise_weights_make_eps_errors_clean_image_errors():
    """Where SNR < 1 (and under the cap), the weighted eps error equals the error of the clean
    image it implies; at SNR >= 1 the weight is 1, and it never exceeds the cap."""
    from dream3d.prior.train_shapes import make_scheduler
    from dream3d.prior.training_state import high_noise_weights

    abar = make_scheduler().alphas_cumprod
    t = torch.arange(0, 1000, 37)
    weights = high_noise_weights(abar, t, 20.0)
    generator = torch.Generator().manual_seed(0)
    x0, eps, eps_hat = (torch.randn(len(t), 64, generator=generator) for _ in range(3))
    a = abar[t][:, None]
    z = a.sqrt() * x0 + (1 - a).sqrt() * eps
    x0_error = ((z - (1 - a).sqrt() * eps_hat) / a.sqrt() - x0).pow(2).sum(1)
    eps_error = (eps_hat - eps).pow(2).sum(1)
    snr = abar[t] / (1 - abar[t])
    middle = (snr < 1) & (1 / snr < 20)
    torch.testing.assert_close((weights * eps_error)[middle], x0_error[middle], rtol=1e-4, atol=1e-6)
    assert middle.sum() >= 5 and torch.all(weights[snr >= 1] == 1) and torch.all(weights[1 / snr >= 20] == 20)


def test_the_camera_mlp_learns_at_its_own_rate(quick_prior, one_thread):
    """The camera MLP is the optimiser's second group, at ``camera_lr_scale`` times the rate."""
    from dream3d.prior.model import TextToImagePrior
    from dream3d.prior.train_multiview import TrainMultiViewConfig, camera_parameter_groups, multiview_unet_from

    unet = multiview_unet_from(TextToImagePrior.from_pretrained(str(quick_prior)).unet, 4)
    cfg = TrainMultiViewConfig(lr=1e-4, camera_lr_scale=10.0)
    rest, camera = camera_parameter_groups(unet, cfg)
    assert camera["lr"] == pytest.approx(1e-3) and rest["lr"] == pytest.approx(1e-4)
    assert {id(p) for p in camera["params"]} == {id(p) for p in unet.class_embedding.parameters()}
    assert len(rest["params"]) + len(camera["params"]) == len(list(unet.parameters()))


def test_a_missing_base_prior_is_refused_before_anything_is_written(tmp_path, capsys):
    from dream3d.prior.train_multiview import main as train_mv
    from dream3d.prior.train_views import main as train_views

    for run, flag in ((train_mv, "--base"), (train_views, "--vae-from")):
        with pytest.raises(SystemExit) as stop:
            run(["--out", str(tmp_path / "out" / "prior"), flag, str(tmp_path / "nowhere"), "--quick"])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {flag}") and "extern/priors/dream3d-shapes-v2" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
