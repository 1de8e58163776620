"""Image-to-3D through the command line: DreamGaussian's image mode with a view-conditioned prior."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from tiny_runs import TINY, launch
from tiny_zero123 import write_tiny_zero123

REPO = Path(__file__).resolve().parents[1]
CONFIG = str(REPO / "configs/dreamgaussian-image.yaml")


@pytest.fixture(scope="module")
def zero123_dir(tmp_path_factory) -> Path:
    return write_tiny_zero123(tmp_path_factory.mktemp("priors") / "zero123")


def object_image(path: Path) -> Path:
    import imageio.v2 as imageio

    rgba = np.zeros((96, 96, 4), np.uint8)
    rgba[24:72, 30:66] = (40, 80, 220, 255)  # an opaque blue box
    imageio.imwrite(path, rgba)
    return path


def test_an_image_run_writes_a_glb_and_supervises_the_reference_view(tmp_path, zero123_dir):
    out = tmp_path / "run"
    code = launch("--config", CONFIG, "--image", str(object_image(tmp_path / "in.png")), "--elevation", "15",
                  "--device", "cpu", "--output-dir", str(out), f"system.prior.pretrained={zero123_dir}",
                  "system.image.size=32", "trainer.log_every=1", *TINY)
    assert code == 0
    mesh = trimesh.load(out / "mesh" / "model.glb", force="mesh")
    assert len(mesh.faces) > 0
    config = (out / "config.yaml").read_text()
    assert "type: image" in config and "elevation: 15.0" in config
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 4


@pytest.mark.parametrize(("image", "override", "message"), [
    ("missing.png", "seed=0", "does not exist"),
    ("empty.png", "seed=0", "No object found"),
    ("box.png", "system.image.fill=1.5", "system.image.fill is 1.5"),
    ("photo.png", "seed=0", "no plain background"),
])
def test_a_bad_image_exits_2_before_the_prior_loads(tmp_path, image, override, message):
    """The prior named here does not exist: a refusal that mentions the image, not the prior,
    shows the image was checked first."""
    import imageio.v2 as imageio

    if image == "empty.png":
        imageio.imwrite(tmp_path / image, np.zeros((64, 64, 4), np.uint8))
    if image == "box.png":
        object_image(tmp_path / image)
    if image == "photo.png":  # no plain background to cut the object out by
        imageio.imwrite(tmp_path / image, np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    result = subprocess.run(
        [sys.executable, "launch.py", "--config", CONFIG, "--image", str(tmp_path / image), "--output-dir",
         str(tmp_path / "run"), "system.prior.pretrained=does/not-exist", override],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_a_text_prior_with_an_image_is_refused_with_advice(tmp_path, tiny_prior_dir):
    code = launch("--config", str(REPO / "configs/dreamgaussian-fast.yaml"), "--image", str(object_image(tmp_path / "in.png")),
                  "--output-dir", str(tmp_path / "run"), f"system.prior.pretrained={tiny_prior_dir}", *TINY)
    assert code == 2 and not (tmp_path / "run").exists()


def test_each_step_adds_the_reference_loss_to_the_guidance(tmp_path, zero123_dir):
    import torch

    from dream3d.methods import build_recipe, load_config
    from dream3d.recipe.engine import RecipeRun

    def step_loss(rgb_weight: float) -> tuple[float, dict]:
        config = load_config(CONFIG, [f"system.image.path={object_image(tmp_path / 'in.png')}", "system.image.size=32",
                                      f"system.prior.pretrained={zero123_dir}", f"system.reference_loss.rgb_weight={rgb_weight}",
                                      *TINY])
        torch.manual_seed(0)
        run = RecipeRun(build_recipe(config), torch.device("cpu"))
        torch.manual_seed(1)
        loss, stats = run.training_step(0)
        return float(loss.detach()), stats

    with_rgb, stats = step_loss(10000.0)
    without_rgb, _ = step_loss(0.0)
    assert {"ref_rgb", "ref_mask"} <= set(stats) and stats["ref_rgb"] > 0
    assert with_rgb - without_rgb == pytest.approx(10000.0 * stats["ref_rgb"], rel=1e-4)


def test_an_image_run_with_a_nerf_writes_a_glb(tmp_path, zero123_dir):
    out = tmp_path / "nerf"
    code = launch("--config", str(REPO / "configs/dreamfusion.yaml"), "--image", str(object_image(tmp_path / "in.png")),
                  "--device", "cpu", "--output-dir", str(out), "system.prior.type=image",
                  f"system.prior.pretrained={zero123_dir}", "system.image.size=32", "trainer.max_steps=3",
                  "trainer.progress_bar=false", "trainer.video=false", "trainer.preview_every=0",
                  "system.camera.height=16", "system.camera.width=16", "system.renderer.n_samples=16",
                  "system.nerf.initial_shape.steps=2", "export.resolution=32", "export.texture_size=32",
                  "export.min_auto_threshold=0.1")
    assert code == 0 and (out / "mesh" / "model.glb").is_file()


def test_the_input_image_is_read_once_per_run_and_again_when_it_changes(tmp_path, monkeypatch):
    """The image condition and the reference loss share one read; a rewritten file is read anew."""
    import os

    import dream3d.image_input as image_input

    reads = []
    read_image = image_input.read_image
    monkeypatch.setattr(image_input, "read_image", lambda path: reads.append(path) or read_image(path))
    path = object_image(tmp_path / "in.png")
    config = image_input.ImageInputConfig(path=str(path), size=64)
    first, second = image_input.load_image_input(config), image_input.load_image_input(config)
    assert len(reads) == 1 and first is second and first.rgb.shape == (3, 64, 64)
    stamp = path.stat().st_mtime_ns
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))
    image_input.load_image_input(config)
    assert len(reads) == 2
