"""The GPU check (benchmarks/gpu_check.py) on a CPU: its smoke mode, its formulas, and the
fallbacks it relies on where the device image lacks a package."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from gpu.compare import Tolerance, difference
from gpu.config_runs import combine_groups, summarise
from gpu.sd_prior import sd21_base_config, write_random_sd_prior


def test_smoke_check_runs_every_section_and_writes_the_report(tmp_path):
    out, scratch = tmp_path / "report", tmp_path / "scratch"
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--smoke", "--output-dir", str(out), "--scratch", str(scratch)],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    report = json.loads((out / "gpu.json").read_text())
    markdown = (out / "GPU.md").read_text()
    for heading in ("CUDA paths against their torch fallbacks", "Stable-Diffusion-scale configs", "Targets",
                    "Bundled prior on this device"):
        assert f"## {heading}" in markdown
    # on a CPU every CUDA comparison is skipped with its reason, after timing the torch side
    for name, check in report["crosschecks"].items():
        assert check["status"] == "skipped" and check["reason"] == "no CUDA device", name
        assert check["seconds"]["torch"] > 0
    sd_runs = {run["label"]: run for run in report["sd_scale"]["runs"]}
    assert set(sd_runs) == {"dreamgaussian-sd", "dreamfusion-sd", "prolificdreamer-sd (nerf stage)",
                            "prolificdreamer-sd (texture stage)", "texture-sd"}
    for label, run in sd_runs.items():
        assert run["status"] == "ok", (label, run.get("error"), run.get("traceback"))
        assert run["steps_per_second"] > 0 and run["job_seconds"] > run["train_seconds"]
        assert run["seconds_per_step_by_section"], label
    # the -sd configs ran with the random SD-architecture folder, and wrote their assets
    assert all(f"system.prior.pretrained={scratch / 'sd21-base-smoke'}" in run["overrides"] for run in sd_runs.values())
    assert Path(sd_runs["dreamgaussian-sd"]["glb"]).is_file()
    assert sd_runs["dreamfusion-sd"]["job_is_extrapolated"] and sd_runs["dreamfusion-sd"]["full_steps"] == 10000
    assert report["sd_scale"]["groups"]["prolificdreamer-sd"]["runs"] == [
        "prolificdreamer-sd (nerf stage)", "prolificdreamer-sd (texture stage)"]
    assert report["bundled"]["runs"][0]["status"] == "ok"


def test_difference_reports_max_and_mean_and_applies_the_tolerance():
    reference = torch.tensor([0.0, 1.0, 2.0, 4.0])
    candidate = torch.tensor([0.0, 1.1, 2.0, 3.9])
    row = difference("x", candidate, reference, Tolerance(0.2, 0.06))
    assert row.max_abs == pytest.approx(0.1) and row.mean_abs == pytest.approx(0.05) and row.passed
    assert not difference("x", candidate, reference, Tolerance(0.2, 0.04)).passed
    # relative: both limits scale with max |reference| = 4
    assert difference("x", candidate, reference, Tolerance(0.03, 0.0125, relative=True)).passed
    assert not difference("x", candidate, reference, Tolerance(0.02, 0.0125, relative=True)).passed
    # a non-finite candidate never passes
    assert not difference("x", torch.tensor([float("nan"), 1.0]), torch.tensor([0.0, 1.0]), Tolerance(1e9, 1e9)).passed
    with pytest.raises(ValueError, match="shapes differ"):
        difference("x", torch.zeros(2), torch.zeros(3), Tolerance(1, 1))


def test_job_time_extrapolates_the_window_and_groups_add_up():
    metrics = {"train_seconds": 10.0, "export_seconds": 4.0, "video_seconds": 0.0, "wall_seconds": 20.0,
               "steps_this_run": 100, "seconds_per_step_by_section": {"prior": 0.05}}
    row = summarise(metrics, full_steps=1000)
    # setup = 20 - 10 - 4 = 6 s; the job = 6 + 1000 x 0.1 + 4 = 110 s
    assert row["setup_seconds"] == pytest.approx(6.0)
    assert row["job_seconds"] == pytest.approx(110.0) and row["job_is_extrapolated"]
    assert row["steps_per_second"] == pytest.approx(10.0)
    whole = summarise(metrics, full_steps=100)
    assert whole["job_seconds"] == pytest.approx(20.0) and not whole["job_is_extrapolated"]
    rows = [dict(row, label="a", group="g", status="ok", peak_gpu_mb=100.0),
            dict(whole, label="b", group="g", status="ok", peak_gpu_mb=300.0)]
    group = combine_groups(rows)["g"]
    assert group["job_seconds"] == pytest.approx(130.0) and group["peak_gpu_mb"] == 300.0 and group["extrapolated"]
    assert combine_groups([*rows, dict(label="c", group="g", status="failed")])["g"]["status"] == "failed"


def test_shipped_sd21_base_architecture_and_its_random_folder_loads_like_the_real_one(tmp_path):
    unet = sd21_base_config("unet")
    assert unet["block_out_channels"] == [320, 640, 1280, 1280] and unet["cross_attention_dim"] == 1024
    assert sd21_base_config("vae")["scaling_factor"] == 0.18215
    text = sd21_base_config("text_encoder")
    assert (text["hidden_size"], text["num_hidden_layers"], text["max_position_embeddings"]) == (1024, 23, 77)
    write_random_sd_prior(tmp_path / "sd", "smoke", torch.device("cpu"), torch.float32)
    from dream3d.prior.model import TextToImagePrior

    prior = TextToImagePrior.from_pretrained(str(tmp_path / "sd"))
    assert prior.encode_text(["a photo of a hamburger"]).shape == (1, 77, 32)  # SD's 77-token context
    assert prior.image_size == 64 and prior.latent_channels == 4


def _mesh_with_a_seam_and_a_speck():
    """Two copies of a box's vertices (every face on its own vertices: a seam everywhere), plus a tiny far triangle."""
    import trimesh

    from dream3d.export.types import Mesh

    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0)).subdivide()
    vertices = box.vertices[box.faces].reshape(-1, 3)
    faces = np.arange(len(vertices)).reshape(-1, 3)
    speck = np.array([[3.0, 3.0, 3.0], [3.01, 3.0, 3.0], [3.0, 3.01, 3.0]])
    return Mesh(np.concatenate([vertices, speck]).astype(np.float32),
                np.concatenate([faces, [[len(vertices), len(vertices) + 1, len(vertices) + 2]]]).astype(np.int64))


def test_cleanup_without_pymeshlab_matches_pymeshlab(monkeypatch):
    from dream3d import optional
    from dream3d.export.cleanup import cleanup_mesh

    mesh = _mesh_with_a_seam_and_a_speck()
    reference = cleanup_mesh(mesh, min_component_fraction=0.05, merge_distance=0.1, target_faces=0)
    monkeypatch.setattr(optional, "pymeshlab", lambda: None)
    fallback = cleanup_mesh(mesh, min_component_fraction=0.05, merge_distance=0.1, target_faces=0)
    assert len(fallback.faces) == len(reference.faces) == 48  # the subdivided box; the speck is gone
    assert len(fallback.vertices) == len(reference.vertices) == 26  # seams welded
    assert np.allclose(np.sort(fallback.vertices, axis=0), np.sort(reference.vertices, axis=0), atol=1e-6)


def test_no_video_without_ffmpeg_is_a_warning_not_an_error(monkeypatch, tmp_path, caplog):
    from dream3d import optional
    from dream3d.media import write_turntable

    monkeypatch.setattr(optional, "video_encoder_available", lambda: False)
    monkeypatch.setattr(optional, "_announced", set())

    class Unused:
        def render_views(self, cameras):
            raise AssertionError("nothing is rendered when no video can be written")

    with caplog.at_level("WARNING"):
        assert write_turntable(Unused(), tmp_path / "video.mp4", 4, 16, 8, 15.0) is False
    assert not (tmp_path / "video.mp4").exists()
    assert "imageio-ffmpeg is not installed" in caplog.text
