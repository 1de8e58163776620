"""Image-to-3D's parts: the Zero123-layout prior through its real loading path, the pose
embedding, the image condition, the reference loss and the input image's checks."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from dream3d.cameras import Cameras
from dream3d.guidance.reference import ReferenceLossConfig, reference_loss
from dream3d.image_input import ImageInputError, load_reference_image, read_image
from dream3d.interfaces import Conditioning
from dream3d.prior.image_condition import ImageCondition, ReferenceView, relative_pose
from dream3d.prior.source import PriorLoadError
from dream3d.prior.view_conditioned import ViewConditionedPrior
from tiny_zero123 import write_tiny_zero123


@pytest.fixture(scope="module")
def zero123(tmp_path_factory) -> ViewConditionedPrior:
    return ViewConditionedPrior.from_pretrained(str(write_tiny_zero123(tmp_path_factory.mktemp("zero123"))))


def cameras(elevation: list[float], azimuth: list[float], distance: list[float]) -> Cameras:
    return Cameras.from_spherical(torch.tensor(elevation), torch.tensor(azimuth), torch.tensor(distance), 40.0, 16, 16)


def test_the_zero123_layout_loads_through_the_real_path(zero123):
    assert zero123.unet.config.in_channels == 8 and zero123.image_size == 16 and zero123.latent_channels == 4
    assert zero123.image_mean.flatten().tolist() == pytest.approx([0.48145466, 0.4578275, 0.40821073])
    assert not any(p.requires_grad for p in zero123.parameters())
    image = torch.rand(1, 3, 40, 40)
    assert zero123.embed_image(image).shape == (1, 24)
    assert zero123.reference_latents(image).shape == (1, 4, 8, 8)


def test_the_pose_embedding_follows_zero123(zero123):
    pose = relative_pose(cameras([30.0, 0.0], [90.0, -180.0], [3.0, 2.5]), ReferenceView(0.0, 0.0, 2.5))
    expected = torch.tensor([[-math.pi / 6, 1.0, 0.0, 0.5], [0.0, 0.0, -1.0, 0.0]])  # higher = smaller polar angle
    assert torch.allclose(pose, expected, atol=1e-6)
    # relative to the reference: a reference at (20, 45) seen from (20, 45) is no change
    same = relative_pose(cameras([20.0], [45.0], [2.5]), ReferenceView(20.0, 45.0, 2.5))
    assert torch.allclose(same, torch.tensor([[0.0, 0.0, 1.0, 0.0]]), atol=1e-6)


def test_the_image_condition_projects_embedding_and_pose_and_drops_both_for_cfg(zero123):
    image = torch.rand(1, 3, 32, 32)
    condition = ImageCondition.from_image(zero123, image, ReferenceView(10.0, 0.0, 2.5))
    batch = cameras([10.0, 40.0, -5.0], [0.0, 120.0, -60.0], [2.5, 2.5, 2.8])
    cond, uncond = condition.for_cameras(batch)
    assert cond.context.shape == (3, 1, 32) and cond.concat.shape == (3, 4, 8, 8)
    pose = relative_pose(batch, condition.reference)
    weight, bias = zero123.projection.projection.weight, zero123.projection.projection.bias
    expected = torch.cat([condition.image_embedding.expand(3, -1), pose], -1) @ weight.T + bias
    assert torch.allclose(cond.context[:, 0], expected, atol=1e-5)
    assert torch.equal(cond.concat[1], zero123.reference_latents(image)[0])
    assert not uncond.context.any() and not uncond.concat.any()
    eps = zero123.predict_noise(torch.randn(3, 4, 8, 8), torch.tensor([10, 500, 900]), cond)
    assert eps.shape == (3, 4, 8, 8) and eps.dtype == torch.float32
    assert cond.class_labels is None and not zero123.takes_pose_labels  # Zero123's UNet reads the pose only as a token


def test_a_prior_whose_unet_takes_pose_labels_gets_the_pose_and_none_without_guidance(tmp_path):
    """A UNet with a pose projection in its timestep embedding (``--focus-pose-labels``) is saved
    and loaded through the real path; the condition gives it the pose, the unconditional input zeros."""
    from dream3d.prior.focus_phase import with_pose_labels

    folder = write_tiny_zero123(tmp_path / "zero123")
    prior = ViewConditionedPrior.from_pretrained(str(folder))
    with_pose_labels(prior.unet).save_pretrained(folder / "unet")
    posed = ViewConditionedPrior.from_pretrained(str(folder))
    assert posed.takes_pose_labels
    condition = ImageCondition.from_image(posed, torch.rand(1, 3, 32, 32), ReferenceView(10.0, 0.0, 2.5))
    batch = cameras([10.0, 40.0], [0.0, 120.0], [2.5, 2.5])
    cond, uncond = condition.for_cameras(batch)
    assert torch.equal(cond.class_labels, relative_pose(batch, condition.reference)) and not uncond.class_labels.any()
    noisy, t = torch.randn(2, 4, 8, 8), torch.tensor([10, 900])
    assert torch.allclose(posed.predict_noise(noisy, t, cond), prior.predict_noise(noisy, t, cond), atol=1e-5)  # zero-initialised
    with pytest.raises(ValueError, match="relative pose as class_labels"):
        posed.predict_noise(noisy, t, Conditioning(cond.context, concat=cond.concat))


def test_a_text_prior_is_refused_as_view_conditioned(tiny_prior_dir, tmp_path):
    folder = write_tiny_zero123(tmp_path / "z")
    with pytest.raises(PriorLoadError, match="cc_projection|Zero123 layout"):
        ViewConditionedPrior.from_pretrained(str(tiny_prior_dir))
    import shutil

    shutil.rmtree(folder / "unet")
    shutil.copytree(tiny_prior_dir / "unet", folder / "unet")  # 4 input channels
    with pytest.raises(PriorLoadError, match="not a view-conditioned prior"):
        ViewConditionedPrior.from_pretrained(str(folder))


def test_reference_loss_is_the_weighted_sum_of_the_two_mean_squared_errors():
    rgb, alpha = torch.full((2, 3, 8, 8), 0.5), torch.full((2, 1, 8, 8), 0.25)
    reference_rgb, reference_mask = torch.ones(1, 3, 16, 16), torch.ones(1, 1, 16, 16)
    loss, terms = reference_loss(rgb, alpha, reference_rgb, reference_mask, ReferenceLossConfig(10.0, 2.0))
    assert terms == pytest.approx({"ref_rgb": 0.25, "ref_mask": 0.5625})
    assert float(loss) == pytest.approx(10.0 * 0.25 + 2.0 * 0.5625)


def write(path: Path, image: np.ndarray) -> Path:
    import imageio.v2 as imageio

    imageio.imwrite(path, image)
    return path


def test_rgba_and_plain_background_images_give_the_same_centred_object(tmp_path):
    rgb = np.full((100, 120, 3), 40, np.uint8)  # a dark grey background
    rgb[30:60, 20:50] = (200, 30, 30)  # a red square, off-centre
    rgb[40:50, 30:40] = (40, 40, 40)  # with an inner patch of the background's colour: kept
    rgba = np.concatenate([rgb, np.zeros((100, 120, 1), np.uint8)], -1)
    rgba[30:60, 20:50, 3] = 255
    from_rgb = load_reference_image(write(tmp_path / "plain.png", rgb), size=64)
    from_rgba = load_reference_image(write(tmp_path / "cut.png", rgba), size=64)
    for ref in (from_rgb, from_rgba):
        assert ref.rgb.shape == (3, 64, 64) and ref.mask.shape == (1, 64, 64)
        rows, cols = torch.nonzero(ref.mask[0], as_tuple=True)
        assert rows.min() + rows.max() == pytest.approx(63, abs=1) and cols.min() + cols.max() == pytest.approx(63, abs=1)
        assert int(rows.max() - rows.min() + 1) == pytest.approx(0.8 * 64, abs=1)  # the object fills 80%
        assert torch.equal(ref.rgb[:, 0, 0], torch.ones(3))  # on white
    assert torch.equal(from_rgb.mask, from_rgba.mask)
    assert torch.allclose(from_rgb.rgb[:, 32, 32], torch.tensor([40, 40, 40]) / 255.0, atol=0.02)  # the inner patch


def test_grey_alpha_16_bit_cmyk_opaque_rgba_and_rotated_images_read_as_a_user_means_them(tmp_path):
    """Images as editors and cameras save them: each gives the same cut-out red square."""
    from PIL import Image

    rgb = np.full((64, 80, 3), 255, np.uint8)
    rgb[20:40, 30:50] = (200, 30, 30)
    expected = load_reference_image(write(tmp_path / "plain.png", rgb), size=32)
    opaque = np.concatenate([rgb, np.full((64, 80, 1), 255, np.uint8)], -1)  # RGBA that masks nothing
    assert torch.equal(load_reference_image(write(tmp_path / "opaque.png", opaque), size=32).mask, expected.mask)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=100)
    cmyk = load_reference_image(tmp_path / "cmyk.jpg", size=32)  # 4 channels, but not RGBA
    assert torch.equal(cmyk.mask, expected.mask)
    assert torch.allclose(cmyk.rgb[:, 16, 16], torch.tensor([200, 30, 30]) / 255.0, atol=0.05)
    turned = Image.fromarray(np.ascontiguousarray(np.rot90(rgb)))  # stored turned, with EXIF "rotate 270 to show"
    exif = turned.getexif()
    exif[0x0112] = 8
    turned.save(tmp_path / "turned.jpg", exif=exif, quality=100)
    assert read_image(tmp_path / "turned.jpg").shape == (64, 80, 3)

    grey_alpha = np.zeros((64, 64, 2), np.uint8)
    grey_alpha[16:48, 16:48] = (120, 255)
    Image.fromarray(grey_alpha, "LA").save(tmp_path / "la.png")
    la = read_image(tmp_path / "la.png")
    assert la.shape == (64, 64, 4) and (la[32, 32] == (120, 120, 120, 255)).all() and la[0, 0, 3] == 0
    deep = np.zeros((64, 64), np.uint16)
    deep[16:48, 16:48] = 20000
    Image.fromarray(deep).save(tmp_path / "grey16.png")
    grey16 = read_image(tmp_path / "grey16.png")
    assert grey16.shape == (64, 64, 3) and grey16[32, 32, 0] == round(255 * 20000 / 65535)  # by its range, not its max


@pytest.mark.parametrize(("name", "content", "message"), [
    ("missing.png", None, "does not exist"),
    ("broken.png", b"not an image", "could not be read"),
    ("tiny.png", np.zeros((16, 16, 3), np.uint8), "at least 32"),
    ("empty.png", np.zeros((64, 64, 4), np.uint8), "No object found"),
    ("flat.png", np.full((64, 64, 3), 90, np.uint8), "No object found"),
    ("photo.png", np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8), "no plain background"),
])
def test_bad_images_are_refused_with_a_message(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        write(path, content)
    with pytest.raises(ImageInputError, match=message):
        load_reference_image(path)


def test_novel_views_from_the_prior_alone_through_the_command(tmp_path, zero123):
    import imageio.v2 as imageio

    from dream3d.prior.sample import main

    folder = write_tiny_zero123(tmp_path / "z")
    rgb = np.full((64, 64, 3), 255, np.uint8)
    rgb[16:48, 20:44] = (30, 60, 200)
    image = write(tmp_path / "in.png", rgb)
    out = tmp_path / "views.png"
    code = main(["--image", str(image), "--elevation", "30", "--azimuth", "90", "--prior", str(folder),
                 "--out", str(out), "--n", "4", "--steps", "2"])
    assert code == 0 and imageio.imread(out).shape == (32, 32, 3)  # 2x2 views of 16 px
    assert main(["--image", str(tmp_path / "nope.png"), "--prior", str(folder), "--out", str(tmp_path / "x.png")]) == 2
    assert not (tmp_path / "x.png").exists()


def test_the_view_prior_training_writes_a_folder_that_loads_and_samples(tmp_path):
    """A seconds-long run, sharing a quick text prior's VAE: the Zero123 layout it writes loads
    through the real path and draws novel views; a second run is bit-identical."""
    from safetensors.torch import load_file

    from dream3d.prior.sample import novel_view_sample
    from dream3d.prior.train_shapes import main as train_text
    from dream3d.prior.train_views import main as train_views

    train_text(["--out", str(tmp_path / "text"), "--quick"])
    train_views(["--out", str(tmp_path / "views"), "--vae-from", str(tmp_path / "text"), "--quick"])
    prior = ViewConditionedPrior.from_pretrained(str(tmp_path / "views"))
    assert prior.unet.config.in_channels == 8 and prior.image_size == 64
    text_vae = load_file(tmp_path / "text" / "vae" / "diffusion_pytorch_model.safetensors")
    view_vae = load_file(tmp_path / "views" / "vae" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(text_vae[k], view_vae[k]) for k in text_vae)  # the shared VAE
    views = novel_view_sample(prior, torch.rand(1, 3, 64, 64), ReferenceView(10.0, 0.0), 30.0, 90.0, n=2, steps=2)
    assert views.shape == (2, 3, 64, 64)
    train_views(["--out", str(tmp_path / "again"), "--vae-from", str(tmp_path / "text"), "--quick"])
    first = load_file(tmp_path / "views" / "unet" / "diffusion_pytorch_model.safetensors")
    second = load_file(tmp_path / "again" / "unet" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_scale_augmentation_enlarges_the_object_by_the_zoom_and_pairs_views_only_within_a_zoom():
    """A zoomed camera's field of view makes the object ``zoom`` times wider in the image, and
    the training pairs a reference only with targets of the same object at the same zoom."""
    from dream3d.prior.shapes_data import ShapesDataset, render, zoomed
    from dream3d.prior.train_views import object_groups

    plain = Cameras.from_spherical(torch.zeros(4), torch.zeros(4), torch.full((4,), 2.5), 40.0, 64, 64)
    zoomed_cameras, zoom = zoomed(plain, 2, (0.8, 1.3), torch.Generator().manual_seed(0))
    assert torch.equal(zoom[:2], zoom[:1].expand(2)) and torch.equal(zoom[2:], zoom[2:3].expand(2))
    assert ((zoom >= 0.8) & (zoom <= 1.3)).all() and zoom[0] != zoom[2]
    _, alpha = render(["sphere"] * 4, ["red"] * 4, plain, supersample=3)
    _, alpha_zoomed = render(["sphere"] * 4, ["red"] * 4, zoomed_cameras, supersample=3)
    width = alpha[:, 0].amax(1).sum(-1)  # [B] silhouette width in pixels (a sphere: round)
    width_zoomed = alpha_zoomed[:, 0].amax(1).sum(-1)
    assert torch.allclose(width_zoomed / width, zoom, rtol=0.04)
    with pytest.raises(ValueError, match="zoom groups"):
        zoomed(plain, 3, (0.8, 1.3), torch.Generator())

    images = torch.zeros(6, 3, 8, 8, dtype=torch.uint8)
    data = ShapesDataset(images, ["red"] * 6, ["cube"] * 4 + ["mug"] * 2, ["front"] * 6, torch.zeros(6, 3),
                         torch.tensor([1.0, 1.0, 1.2, 1.2, 1.0, 1.0]))
    assert object_groups(data).tolist() == [0, 0, 1, 1, 2, 2]
    data.zooms = None
    assert object_groups(data).tolist() == [0, 0, 0, 0, 1, 1]
