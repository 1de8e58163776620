"""launch.py end to end with the tiny prior: outputs, config errors, resume, Ctrl-C."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dream3d.cli import main

REPO = Path(__file__).resolve().parents[1]
HANG_GUARD = 900
"""Seconds after which a child process counts as hung: a guard against hangs, never a speed limit
(no test asserts on wall time; timings belong in benchmarks/)."""
FAST = ["trainer.video_frames=4", "trainer.video_resolution=32", "export.resolution=48", "export.texture_size=64"]


def launch(*args: str) -> int:
    return main(list(args))


def tiny_run(tiny_prior_dir: Path, out: Path, *extra: str) -> int:
    return launch(
        "--config", str(REPO / "configs/dreamfusion.yaml"), "--prompt", "a red cube", "--output-dir", str(out),
        f"system.prior.pretrained={tiny_prior_dir}", "system.camera.height=16", "system.camera.width=16",
        *FAST, *extra,
    )


def test_end_to_end_run_writes_every_output(tiny_prior_dir, tmp_path):
    out = tmp_path / "run"
    # The tiny prior is random: its gradients are noise. A small grid learning rate keeps six steps
    # of it from scrambling the fitted start, so that the mesh checks below are about the exporter.
    assert tiny_run(tiny_prior_dir, out, "trainer.max_steps=6", "trainer.preview_every=3", "system.optimizer.encoding_lr=0.002") == 0
    assert sorted(p.name for p in (out / "previews").iterdir()) == ["step_000003.png", "step_000006.png"]
    assert (out / "ckpts" / "last.ckpt").is_file()
    assert (out / "video.mp4").stat().st_size > 1000
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 6 and metrics["steps_per_second"] > 0 and metrics["peak_rss_mb"] > 0
    assert set(metrics["seconds_per_step_by_section"]) >= {"render", "prior", "backward", "optimizer"}
    saved = (out / "config.yaml").read_text()
    assert "prompt: a red cube" in saved and "max_steps: 6" in saved
    import imageio.v2 as imageio

    preview = imageio.imread(out / "previews" / "step_000006.png")
    assert preview.shape == (256, 512, 3)  # four 128-pixel views over their opacity

    import trimesh

    mesh = trimesh.load(out / "mesh" / "model.glb", force="mesh")
    welded = mesh.copy()
    welded.merge_vertices(merge_tex=True, merge_norm=True)  # vertices are split at UV seams
    assert len(mesh.faces) > 100 and welded.is_watertight
    texture = imageio.imread(out / "mesh" / "texture.png")
    assert texture.std() > 0
    assert "texture.png" in (out / "mesh" / "model.mtl").read_text()
    assert metrics["export"]["num_faces"] == len(mesh.faces)

    # re-export from the checkpoint, without training, at another resolution
    assert launch("--export", str(out), "export.resolution=32", "export.texture_size=32") == 0
    assert imageio.imread(out / "mesh" / "texture.png").shape[:2] == (32, 32)


def test_config_typo_exits_2_naming_the_key_without_traceback():
    result = subprocess.run(
        [sys.executable, "launch.py", "--config", "configs/dreamfusion.yaml", "system.guidance.guidance_scal=3"],
        cwd=REPO, capture_output=True, text=True, timeout=HANG_GUARD,
    )
    assert result.returncode == 2
    assert "system.guidance.guidance_scal" in result.stderr
    assert "Did you mean 'system.guidance.guidance_scale'" in result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_type_and_bad_yaml_key_exit_2(tmp_path, capsys):
    assert launch("--config", str(REPO / "configs/dreamfusion.yaml"), "trainer.max_steps=many") == 2
    assert "trainer.max_steps" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: dreamfusion\ntrainer:\n  max_stepz: 3\n")
    assert launch("--config", str(bad)) == 2
    err = capsys.readouterr().err
    assert "trainer.max_stepz" in err and "trainer.max_steps" in err


def test_missing_hub_model_fails_with_a_pointer_to_the_bundled_prior(tmp_path, capsys):
    code = launch("--config", str(REPO / "configs/dreamfusion.yaml"), "--output-dir", str(tmp_path / "r"),
                  "system.prior.pretrained=nobody/no-such-model")
    assert code == 2
    err = capsys.readouterr().err
    assert "nobody/no-such-model" in err and "extern/priors/dream3d-shapes-v2" in err
    assert not (tmp_path / "r").exists()


def test_sigint_leaves_a_resumable_checkpoint(tiny_prior_dir, tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    hang_guard = time.monotonic() + HANG_GUARD
    process = subprocess.Popen(
        [sys.executable, "launch.py", "--config", "configs/dreamfusion.yaml", "--prompt", "a red cube",
         "--output-dir", str(out), f"system.prior.pretrained={tiny_prior_dir}", "system.camera.height=16",
         "system.camera.width=16", "trainer.max_steps=100000", "trainer.preview_every=2",
         "trainer.preview_resolution=16", *FAST],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    previews = out / "previews"
    while not (previews.is_dir() and any(previews.iterdir())):  # wait for the first preview to be written
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < hang_guard, "no preview after HANG_GUARD seconds: the run hangs"
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=HANG_GUARD)
    assert process.returncode == 130, stderr
    assert "Resume with: python launch.py --resume" in stderr
    step = torch.load(out / "ckpts/last.ckpt", weights_only=False)["recipe"]["step"]
    assert 2 <= step < 100000
    assert launch("--resume", str(out), f"trainer.max_steps={step + 2}", "trainer.video=false", "trainer.export=false") == 0
    assert json.loads((out / "metrics.json").read_text())["steps"] == step + 2


def test_help_lists_the_shipped_configs():
    result = subprocess.run([sys.executable, "launch.py", "--help"], cwd=REPO, capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0
    assert "configs/dreamfusion.yaml" in result.stdout and "configs/dreamfusion-sd.yaml" in result.stdout


@pytest.mark.parametrize("flag", ["--resume", "--export"])
def test_not_a_run_directory(tmp_path, capsys, flag):
    assert launch(flag, str(tmp_path)) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tiny_prior_dir, tmp_path, capsys,
                                                                          monkeypatch):
    import dream3d.guidance.sds as sds

    out = tmp_path / "run"
    common = ("trainer.preview_every=0", "trainer.video=false", "trainer.export=false")
    assert tiny_run(tiny_prior_dir, out, "trainer.max_steps=3", *common) == 0
    before = torch.load(out / "ckpts/last.ckpt", weights_only=False)
    capsys.readouterr()
    # The resumed run's guidance diverges (a NaN weight is bad input, refused before work).
    monkeypatch.setattr(sds, "latents_surrogate_loss", lambda latents, grad: latents.sum() * float("nan"))
    assert launch("--resume", str(out), "trainer.max_steps=6") == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "step 3" in err and "last good checkpoint" in err
    after = torch.load(out / "ckpts/last.ckpt", weights_only=False)
    assert after["recipe"]["step"] == before["recipe"]["step"] == 3
    for key, value in before["recipe"]["stages"]["nerf"]["representation"].items():
        torch.testing.assert_close(after["recipe"]["stages"]["nerf"]["representation"][key], value, rtol=0, atol=0)


def test_out_of_vocabulary_prompt_is_refused_before_anything_loads(tmp_path):
    """The bundled prior's vocabulary is read from its folder: no weights load, no shape is fitted."""
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "launch.py", "--config", "configs/dreamfusion.yaml", "--prompt", "a shiny red dragon",
         "--output-dir", str(out)], cwd=REPO, capture_output=True, text=True, timeout=HANG_GUARD,
    )
    assert done.returncode == 2
    assert "'shiny', 'dragon'" in done.stderr and "It knows only:" in done.stderr and "a red" not in done.stderr
    assert "Traceback" not in done.stderr and "Loading weights" not in done.stderr
    assert not out.exists()


BAD_DREAMFUSION_VALUES = [
    ("system.nerf.density_bias=blub", "system.nerf.density_bias"),
    ("system.guidance.type=sdss", "system.guidance.type"),
    ("trainer.max_steps=-5", "trainer.max_steps must be at least 1"),
    ("system.camera.height=0", "system.camera.height must be in [8, 1024]"),
    ("export.resolution=0", "export.resolution must be"),
    ("system.guidance.guidance_scale=-1", "guidance_scale must be >= 0"),
    ("system.guidance.image_weight=-0.5", "image_weight must be >= 0"),
    ("system.guidance.space=pixels", "system.guidance.space"),
    ("export.surface=voxels", "export.surface"),
    ("export.close_voxels=100", "export.close_voxels must be in [0, 16]"),
    ("export.silhouette.min_alpha=1.5", "export.silhouette.min_alpha must be in (0, 1)"),
    ("system.renderer.n_samples=0", "system.renderer.n_samples must be in [1, 4096]"),
    ("system.renderer.march_chunk=0", "system.renderer.march_chunk must be at least 1"),
    ("system.renderer.camera_chunk=-1", "system.renderer.camera_chunk must be non-negative"),
    ("system.renderer.early_stop_eps=-1", "system.renderer.early_stop_eps must be in [0, 1)"),
    ("system.prior.trace_unet=maybe", "system.prior.trace_unet"),
    ("system.loss.grid_tv=-1e4", "system.loss.grid_tv must be non-negative"),
    ("system.loss.opacity_entropy=-1", "system.loss.opacity_entropy must be non-negative"),
    ("system.loss.sds=nan", "system.loss.sds must be non-negative"),
]
BAD_DREAMGAUSSIAN_VALUES = [
    ("system.resolutions=[0,0,0]", "system.resolutions must lie in [8, 1024] pixels"),
    ("system.splat.early_stop_eps=2", "system.splat.early_stop_eps must be in [0, 1)"),
]


@pytest.mark.parametrize("config, override, message",
                         [("dreamfusion", *case) for case in BAD_DREAMFUSION_VALUES]
                         + [("dreamgaussian", *case) for case in BAD_DREAMGAUSSIAN_VALUES])
def test_bad_values_are_refused_before_work(config, override, message, tmp_path, capsys):
    code = launch("--config", str(REPO / f"configs/{config}.yaml"), "--output-dir", str(tmp_path / "r"), override)
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_output_dir_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    code = launch("--config", str(REPO / "configs/dreamfusion.yaml"), "--output-dir", str(tmp_path / "taken"))
    assert code == 2 and "is an existing file" in capsys.readouterr().err
