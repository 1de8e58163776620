"""Sweeps: the sweep file, trial expansion, the local and Ray executors, results, resume."""
from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from dream3d.cli import main
from dream3d.config import ConfigError
from dream3d.prior.catalog import all_prompts
from dream3d.sweep.expand import expand_trials, resolve_trials
from dream3d.sweep.results import TrialResult, flat_row, output_paths, trial_scores
from dream3d.sweep.spec import load_sweep

REPO = Path(__file__).resolve().parents[1]
CONFIG = str(REPO / "configs/dreamfusion.yaml")
TINY = {  # a trial in a couple of seconds
    "trainer.max_steps": 2, "trainer.preview_every": 2, "trainer.preview_resolution": 16,
    "trainer.video_frames": 4, "trainer.video_resolution": 16, "trainer.export": False,
    "trainer.progress_bar": False, "trainer.checkpoint_every": 0,
    "system.camera.height": 16, "system.camera.width": 16,
}


def write_sweep(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def tiny_sweep(directory: Path, prior: Path) -> Path:
    """Three trials (paired prior path x guidance scale); the third prior does not exist."""
    missing = directory / "no-such-prior"
    return write_sweep(directory / "tiny.yaml", json.dumps({
        "prompts": ["a red cube"],
        "zip": {"system.prior.pretrained": [str(prior), str(prior), str(missing)],
                "system.guidance.guidance_scale": [5.0, 20.0, 7.5]},
        "overrides": TINY,
        "retries": 1,
    }))


def sweep(sweep_file: Path, out: Path, *extra: str) -> int:
    return main(["--config", CONFIG, "--sweep", str(sweep_file), "--output-dir", str(out), *extra])


def read_rows(sweep_dir: Path) -> list[dict]:
    return json.loads((sweep_dir / "results.json").read_text())


@pytest.fixture(scope="module")
def local_sweep(tiny_prior_dir, tmp_path_factory) -> Path:
    """The tiny sweep, run once with the local executor."""
    directory = tmp_path_factory.mktemp("sweep")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DREAM3D_CACHE_DIR", str(directory / "cache"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        assert sweep(tiny_sweep(directory, tiny_prior_dir), directory / "out") == 1  # one trial fails
    return directory / "out"


# ---------------------------------------------------------------- the sweep file
def test_expansion_is_a_product_of_prompts_grid_zip_and_seeds(tmp_path):
    (tmp_path / "prompts.txt").write_text("a red cube\n\n# a comment\na blue sphere\n")
    spec = load_sweep(write_sweep(tmp_path / "s.yaml", """
prompts_file: prompts.txt
grid:
  system.guidance.guidance_scale: [5.0, 20.0]
zip:
  system.camera.height: [16, 32]
  system.camera.width: [16, 32]
seed: [0, 1]
overrides:
  trainer: {max_steps: 7}
"""))
    assert spec.name == "s" and spec.prompts == ["a red cube", "a blue sphere"]
    assert spec.overrides == {"trainer.max_steps": 7}
    trials = resolve_trials(expand_trials(spec), spec, "s.yaml", CONFIG, ["trainer.preview_every=0"], {})
    assert len(trials) == 2 * 2 * 2 * 2
    assert trials[0].id == "000_a_red_cube_guidance_scale_5_0_height_16_width_16_seed_0"
    assert trials[1].overrides == {"system.prompt": "a red cube", "system.guidance.guidance_scale": 5.0,
                                   "system.camera.height": 16, "system.camera.width": 16, "seed": 1}
    last = trials[-1].config
    assert (last.system.prompt, last.system.guidance.guidance_scale, last.seed) == ("a blue sphere", 20.0, 1)
    assert (last.system.camera.height, last.system.camera.width) == (32, 32)
    assert (last.trainer.max_steps, last.trainer.preview_every, last.name) == (7, 0, "dreamfusion")
    assert "max_steps: 7" in trials[-1].config_yaml


@pytest.mark.parametrize("text, message", [
    ("gird:\n  seed: [1]\n", "'gird'"),
    ("resources:\n  num_gpu: 1\n", "'resources.num_gpu'"),
    ("seed: [one]\n", "'seed"),
    ("zip:\n  seed: [1, 2]\n  system.prompt: [a red cube]\n", "same length"),
    ("seed: [1]\ngrid:\n  seed: [2, 3]\n", "'seed' is set by both"),
    ("grid:\n  seed: []\n", "has no values"),
])
def test_bad_sweep_files_are_config_errors_naming_the_problem(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_sweep(write_sweep(tmp_path / "bad.yaml", text))


def test_a_typo_in_a_trial_key_fails_the_sweep_before_anything_runs(tmp_path, capsys):
    bad = write_sweep(tmp_path / "s.yaml", "grid:\n  system.guidance.guidance_scal: [5.0, 20.0]\n")
    assert sweep(bad, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "system.guidance.guidance_scal" in err and "Did you mean 'system.guidance.guidance_scale'" in err
    assert not (tmp_path / "out").exists()
    wrong_type = write_sweep(tmp_path / "t.yaml", "grid:\n  trainer.max_steps: [5, many]\n")
    assert sweep(wrong_type, tmp_path / "out") == 2
    assert "trainer.max_steps" in capsys.readouterr().err
    assert sweep(write_sweep(tmp_path / "u.yaml", "seed: [1, 2]\n"), tmp_path / "out", "seed=3") == 2
    assert "varied by the sweep" in capsys.readouterr().err


def test_ray_executor_without_ray_is_a_clear_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    assert sweep(write_sweep(tmp_path / "s.yaml", "seed: [1]\n"), tmp_path / "out", "--executor", "ray") == 2
    assert "pip install -e .[distributed]" in capsys.readouterr().err


def test_shipped_sweeps_resolve():
    shapes = load_sweep(REPO / "configs/sweeps/shapes.yaml")
    trials = resolve_trials(expand_trials(shapes), shapes, "shapes.yaml", CONFIG, [], {})
    assert len(trials) == 96
    # every pair of world v2, the shipped prior's world, at seeds 0 and 1
    assert {(t.config.system.prompt, t.config.seed) for t in trials} == {(p.text, s) for p in all_prompts() for s in (0, 1)}
    scales = load_sweep(REPO / "configs/sweeps/guidance-scale.yaml")
    trials = resolve_trials(expand_trials(scales), scales, "guidance-scale.yaml", CONFIG, [], {})
    values = scales.grid["system.guidance.guidance_scale"]
    assert len(values) > 1 and {t.config.system.guidance.guidance_scale for t in trials} == set(values)


# ---------------------------------------------------------------- running
def test_local_sweep_writes_run_directories_tables_and_gallery(local_sweep):
    trials = sorted(p.name for p in (local_sweep / "trials").iterdir())
    assert len(trials) == 3 and trials[0].startswith("000_a_red_cube_pretrained_")
    for name in trials:
        assert (local_sweep / "trials" / name / "config.yaml").is_file()
    assert "guidance_scale: 20.0" in (local_sweep / "trials" / trials[1] / "config.yaml").read_text()
    assert (local_sweep / "sweep.yaml").is_file()
    rows = read_rows(local_sweep)
    assert [r["trial"] for r in rows] == trials
    with open(local_sweep / "results.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [r["trial"] for r in table] == trials
    assert {"status", "error", "wall_seconds", "steps_per_second", "preview", "video", "glb",
            "system.prompt", "system.prior.pretrained", "system.guidance.guidance_scale"} <= set(table[0])
    for row in rows[:2]:
        assert row["status"] == "ok" and row["steps_per_second"] > 0 and row["wall_seconds"] > 0
        assert row["preview"].endswith("previews/step_000002.png") and row["video"].endswith("video.mp4")
        assert (local_sweep / row["preview"]).is_file() and (local_sweep / row["video"]).is_file()
        assert row["glb"] == ""  # trainer.export=false
    page = (local_sweep / "index.html").read_text()
    assert page.count('<article class="card"') == 3
    assert all(f'src="{row["preview"]}"' in page for row in rows[:2])


def test_a_failing_trial_is_recorded_while_the_others_succeed(local_sweep):
    rows = read_rows(local_sweep)
    assert [r["status"] for r in rows] == ["ok", "ok", "failed"]
    assert "no-such-prior" in rows[2]["error"] and rows[2]["preview"] == ""
    assert "Traceback" in (local_sweep / "trials" / rows[2]["trial"] / "error.txt").read_text()


def test_rerun_skips_finished_trials_and_reruns_failed_and_missing_ones(local_sweep, tiny_prior_dir, tmp_path):
    out = tmp_path / "moved"
    shutil.copytree(local_sweep, out)  # a sweep directory can move: its paths are relative
    first, second, failed = (out / "trials" / row["trial"] for row in read_rows(out))
    kept = (first / "metrics.json").stat().st_mtime_ns
    failed_before = (failed / "trial.json").stat().st_mtime_ns
    shutil.rmtree(second)
    assert sweep(tiny_sweep(local_sweep.parent, tiny_prior_dir), out, "--parallel", "2") == 1  # spawned workers
    assert [r["status"] for r in read_rows(out)] == ["skipped", "ok", "failed"]
    assert (first / "metrics.json").stat().st_mtime_ns == kept
    assert (second / "metrics.json").is_file()
    assert (failed / "trial.json").stat().st_mtime_ns > failed_before
    assert read_rows(out)[0]["preview"] == read_rows(local_sweep)[0]["preview"]


def test_ray_executor_gives_the_same_rows(local_sweep, tiny_prior_dir, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e .[distributed])")
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        assert sweep(tiny_sweep(local_sweep.parent, tiny_prior_dir), tmp_path / "ray", "--executor", "ray") == 1
    finally:
        ray.shutdown()
    def essentials(sweep_dir: Path) -> list[dict]:
        return [{k: row[k] for k in ("trial", "overrides", "status", "preview", "video", "glb")} for row in read_rows(sweep_dir)]

    assert essentials(tmp_path / "ray") == essentials(local_sweep)
    assert "no-such-prior" in read_rows(tmp_path / "ray")[2]["error"]


# ---------------------------------------------------------------- results
def test_output_paths_find_the_latest_preview_the_video_and_the_glb(tmp_path):
    run = tmp_path / "trials" / "000_x"
    for name in ("previews/step_000010.png", "previews/step_000200.png", "video.mp4", "mesh/model.glb"):
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_bytes(b"x")
    assert output_paths(run, tmp_path) == {"preview": "trials/000_x/previews/step_000200.png",
                                           "video": "trials/000_x/video.mp4", "glb": "trials/000_x/mesh/model.glb"}
    assert output_paths(tmp_path / "trials" / "nothing", tmp_path) == {"preview": "", "video": "", "glb": ""}


def test_scores_come_from_the_evaluator_only_for_the_bundled_prior_and_a_mesh(tmp_path, monkeypatch):
    import dream3d.eval
    from dream3d.prior.source import BUNDLED_PRIOR

    calls = []
    scores = {"prompt": "a red cube", "passed": True, "chamfer": 0.05, "predicted_shape": "cube", "mean_albedo": (1, 0, 0)}
    def evaluate_run(run_dir, prompt):
        calls.append(prompt)
        return SimpleNamespace(to_dict=lambda: scores)

    monkeypatch.setattr(dream3d.eval, "evaluate_run", evaluate_run)
    bundled = SimpleNamespace(system=SimpleNamespace(prompt="a red cube", prior=SimpleNamespace(pretrained=BUNDLED_PRIOR)))
    other = SimpleNamespace(system=SimpleNamespace(prompt="a red cube", prior=SimpleNamespace(pretrained=str(tmp_path))))
    assert trial_scores(tmp_path, bundled) == {}  # no mesh exported
    (tmp_path / "mesh").mkdir()
    (tmp_path / "mesh" / "model.glb").write_bytes(b"glTF")
    assert trial_scores(tmp_path, bundled) == {"passed": True, "chamfer": 0.05, "predicted_shape": "cube"}
    assert calls == ["a red cube"]
    assert trial_scores(tmp_path, other) == {}
    row = flat_row(TrialResult("000_x", {"seed": 1}, "ok", scores={"chamfer": 0.05}))
    assert row["eval.chamfer"] == 0.05 and row["seed"] == 1
