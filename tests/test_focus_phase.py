"""The view prior's experiment options: the focus phase (which images it draws, its command's
options) and the pose fed to every UNet block."""
import json

import pytest
import torch
from safetensors.torch import load_file

from dream3d.prior.focus_phase import FocusPhaseConfig, focus_images


def test_focus_images_are_those_of_the_focus_shapes():
    shapes = ["chair", "cube", "pyramid", "chair", "mug", "sphere"]
    assert focus_images(shapes, ("chair", "pyramid")).tolist() == [0, 2, 3]
    assert focus_images(shapes, ("mug",)).tolist() == [4]
    with pytest.raises(ValueError, match="no image of torus"):
        focus_images(shapes, ("torus",))


def test_a_bad_focus_phase_is_refused_by_field():
    with pytest.raises(ValueError, match="^unknown shape"):
        FocusPhaseConfig(shapes=("chair", "dragon"))
    with pytest.raises(ValueError, match="^share must be in"):
        FocusPhaseConfig(share=1.5)
    with pytest.raises(ValueError, match="^steps must be"):
        FocusPhaseConfig(steps=-1)
    with pytest.raises(ValueError, match="^high_noise_cap must be"):
        FocusPhaseConfig(high_noise_cap=0.5)


@pytest.mark.parametrize("option, message", [
    (["--focus-shapes", "chair", "dragon"], "--focus-shapes: unknown shape(s) dragon"),
    (["--focus-share", "2"], "--focus-share: share must be in [0, 1]"),
    (["--focus-steps", "-5"], "--focus-steps: steps must be at least 0"),
])
def test_the_command_refuses_a_bad_focus_option_before_any_work(tmp_path, capsys, option, message):
    from dream3d.prior.train_views import main

    with pytest.raises(SystemExit) as stop:
        main(["--out", str(tmp_path / "views"), "--vae-from", str(tmp_path / "none"), "--quick", *option])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and message in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_the_focus_phase_draws_its_share_from_the_focus_shapes_and_changes_the_weights(tmp_path, monkeypatch):
    """Driven through the command: with a share of 1 every target of the focus phase shows a
    chair, and its high-noise steps are weighted; the main phase's stage is saved apart; without
    the phase the weights are the main phase's."""
    import dream3d.prior.train_views as train_views
    from dream3d.prior.train_shapes import main as train_text

    drawn, chosen, caps, draw, loss = [], [], [], train_views.draw_batch, train_views.epsilon_loss

    def spy_focus(shapes, focus):
        chosen.append([shapes[i] for i in focus_images(shapes, focus).tolist()])
        return focus_images(shapes, focus)

    def spy_draw(size, total, featured, share, generator, weights=None):
        index, n = draw(size, total, featured, share, generator, weights)
        drawn.append((index, featured))
        return index, n

    def spy_loss(eps, noise, alphas_cumprod, timesteps, gamma, high_noise_cap=1.0):
        caps.append(high_noise_cap)
        return loss(eps, noise, alphas_cumprod, timesteps, gamma, high_noise_cap)

    monkeypatch.setattr(train_views, "draw_batch", spy_draw)
    monkeypatch.setattr(train_views, "epsilon_loss", spy_loss)
    monkeypatch.setattr(train_views, "focus_images", spy_focus)
    train_text(["--out", str(tmp_path / "text"), "--quick"])
    args = ["--vae-from", str(tmp_path / "text"), "--quick", "--focus-steps", "2", "--focus-shapes", "chair",
            "--focus-share", "1"]
    train_views.main(["--out", str(tmp_path / "focus"), *args])
    assert chosen and set(chosen[0]) == {"chair"}
    assert len(drawn) == 2  # the quick focus phase's 2 steps
    assert caps == [1.0] * 3 + [20.0] * 2  # the main phase's 3 steps unweighted, the focus phase's high-noise weighted
    assert all(set(index.tolist()) <= set(featured.tolist()) for index, featured in drawn)
    log = json.loads((tmp_path / "focus" / "training_log.json").read_text())
    assert log["config"]["focus"]["shapes"] == ["chair"] and "views_focus_final_loss" in log
    assert (tmp_path / "focus.work" / "views.pt").is_file() and (tmp_path / "focus.work" / "views_focus.pt").is_file()

    train_views.main(["--out", str(tmp_path / "plain"), *args, "--focus-steps", "0"])
    assert not (tmp_path / "plain.work" / "views_focus.pt").exists()
    focus = load_file(tmp_path / "focus" / "unet" / "diffusion_pytorch_model.safetensors")
    plain = load_file(tmp_path / "plain" / "unet" / "diffusion_pytorch_model.safetensors")
    assert not all(torch.equal(focus[k], plain[k]) for k in focus)
    main_phase = torch.load(tmp_path / "focus.work" / "views.pt", weights_only=False)["value"]["unet"]
    assert all(torch.equal(main_phase[k], plain[k]) for k in plain)  # the main phase is the same either way


def test_pose_labels_start_as_the_unet_they_extend_and_then_reach_every_prediction():
    """``with_pose_labels`` adds a zero-initialised pose projection to the timestep embedding:
    the same prediction for any pose until its last layer moves, then one that depends on it."""
    from diffusers import UNet2DConditionModel

    from dream3d.prior.focus_phase import with_pose_labels

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=8, in_channels=8, out_channels=4, layers_per_block=1,
                                block_out_channels=(16, 32), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=8,
                                attention_head_dim=2, norm_num_groups=8).eval()
    posed = with_pose_labels(unet).eval()
    assert posed.config.class_embed_type == "projection" and posed.config.projection_class_embeddings_input_dim == 4
    x, t, token = torch.randn(2, 8, 8, 8), torch.tensor([10, 900]), torch.randn(2, 1, 8)
    pose = torch.tensor([[0.2, 1.0, 0.0, 0.0], [-0.3, -1.0, 0.0, 0.0]])
    with torch.no_grad():
        plain = unet(x, t, encoder_hidden_states=token).sample
        assert torch.equal(posed(x, t, encoder_hidden_states=token, class_labels=pose).sample, plain)
        torch.nn.init.normal_(posed.class_embedding.linear_2.weight)
        moved = posed(x, t, encoder_hidden_states=token, class_labels=pose).sample
    assert (moved - plain).abs().mean() > 1e-3


def test_pose_labels_from_the_start_give_a_prior_that_reads_the_pose_in_every_block(tmp_path):
    from dream3d.prior.image_condition import ReferenceView
    from dream3d.prior.sample import novel_view_sample
    from dream3d.prior.train_shapes import main as train_text
    from dream3d.prior.train_views import main as train_views
    from dream3d.prior.view_conditioned import ViewConditionedPrior

    train_text(["--out", str(tmp_path / "text"), "--quick"])
    train_views(["--out", str(tmp_path / "views"), "--vae-from", str(tmp_path / "text"), "--quick", "--pose-labels"])
    prior = ViewConditionedPrior.from_pretrained(str(tmp_path / "views"))
    assert prior.takes_pose_labels
    log = json.loads((tmp_path / "views" / "training_log.json").read_text())
    assert log["config"]["sizes"]["pose_labels"] is True
    views = novel_view_sample(prior, torch.rand(1, 3, 64, 64), ReferenceView(10.0, 0.0), 30.0, 90.0, n=2, steps=2)
    assert views.shape == (2, 3, 64, 64)
