"""Bad situations through the command line: exit code, message (never a traceback), and what is
left on disk. A concurrent run, a finished run in --output-dir, names that are paths, an
interrupted export, a re-export at another texture size, a damaged checkpoint, a sweep with
impossible trials, a huge mesh to texture."""
from __future__ import annotations

import json
import selectors
import shutil
import subprocess
import sys

import imageio.v2 as imageio
import torch
import trimesh
from omegaconf import OmegaConf
from tiny_runs import CONFIG, REPO, TINY, copy_run, launch, run_args, snapshot

from dream3d.export import pipeline
from dream3d.run_dir import LOCK_NAME

HANG_GUARD = 600
"""Seconds before a child process that never answers counts as hung (never a speed limit)."""

ONE_STEP = ("trainer.max_steps=1", "system.refine_steps=0", "trainer.preview_every=0", "trainer.export=false")
"""A run that only has to exist."""
HOLD_LOCK = "import sys\nfrom dream3d.run_dir import run_lock\nwith run_lock(sys.argv[1]):\n    print('locked', flush=True)\n    sys.stdin.read()\n"


def read_line(process: subprocess.Popen) -> str:
    """The next line ``process`` prints (waits for it; fails only if the process hangs)."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    assert selector.select(timeout=HANG_GUARD), "the child printed nothing"
    return process.stdout.readline().strip()


def test_a_second_run_in_the_same_output_dir_is_refused_and_a_killed_holder_does_not_block(tiny_prior_dir, tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert read_line(holder) == "locked"
        assert launch(*run_args(tiny_prior_dir, out)) == 2
        err = capsys.readouterr().err
        assert f"'{out}' is in use by another dream3d run (process {holder.pid})" in err and "Traceback" not in err
        assert [p.name for p in out.iterdir()] == [LOCK_NAME]  # refused before anything was written
    finally:
        holder.kill()  # SIGKILL: the kernel drops the lock; the lock file stays behind
        holder.wait(timeout=HANG_GUARD)
    assert (out / LOCK_NAME).is_file()
    assert launch(*run_args(tiny_prior_dir, out, *ONE_STEP)) == 0
    assert (out / "ckpts" / "last.ckpt").is_file()


def test_a_finished_run_is_refused_unless_overwrite_which_keeps_resume_and_export_working(
        finished_tiny_run, tiny_prior_dir, tmp_path, capsys):
    run = copy_run(finished_tiny_run, tmp_path / "run")
    (run / "notes.txt").write_text("mine")
    before = snapshot(run)
    assert launch(*run_args(tiny_prior_dir, run)) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--overwrite" in err and f"--resume {run}" in err and "Traceback" not in err
    assert snapshot(run) == before

    assert launch("--overwrite", *run_args(tiny_prior_dir, run, "trainer.preview_every=4")) == 0
    assert sorted(p.name for p in (run / "previews").iterdir()) == ["step_000004.png"]  # no old previews beside new
    assert (run / "notes.txt").read_text() == "mine"  # only the run's own files were cleared
    assert "preview_every: 4" in (run / "config.yaml").read_text()

    assert launch("--export", str(run)) == 0  # (--resume of it: see the damaged-checkpoint test)
    assert launch("--overwrite", "--resume", str(run)) == 2
    assert "cannot be combined with --export, --resume or --sweep" in capsys.readouterr().err


def test_run_and_sweep_names_that_are_paths_stay_inside_the_output_root(tiny_prior_dir, tmp_path):
    root = tmp_path / "deep" / "er" / "outputs"
    assert launch(*run_args(tiny_prior_dir, None, *ONE_STEP, "name=../../x", f"output_root={root}")) == 0
    assert [p.name for p in root.iterdir()] == ["x"]

    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(json.dumps({"name": "../../y", "seed": [0],
                                 "overrides": {"system.prior.pretrained": str(tmp_path / "no-such-prior")}}))
    assert launch("--config", CONFIG, "--sweep", str(sweep), f"output_root={root}", *TINY) == 1  # the trial fails
    assert [p.name.split("@")[0] for p in (root / "sweeps").iterdir()] == ["y"]
    outside = [p for p in tmp_path.rglob("*") if p != root and root not in p.parents and p not in root.parents]
    assert sorted(p.name for p in outside) == ["sweep.yaml"]


def test_an_interrupted_export_keeps_the_old_mesh_and_leftovers_are_cleaned(finished_tiny_run, tmp_path, monkeypatch, capsys):
    run = copy_run(finished_tiny_run, tmp_path / "run")
    before = snapshot(run / "mesh")
    assert "preview.png" in before

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "write_preview", ctrl_c)  # Ctrl-C after the model files, before the preview
    assert launch("--export", str(run), "export.texture_size=32") == 130
    assert snapshot(run / "mesh") == before
    assert not list(run.glob(".mesh.*"))
    monkeypatch.undo()

    stale = run / ".mesh.new-killed"  # what an export killed with -9 leaves
    stale.mkdir()
    (stale / "model.obj").write_text("partial")
    assert launch("--export", str(run), "export.texture_size=32") == 0
    assert not stale.exists() and not list(run.glob(".mesh.*"))
    assert imageio.imread(run / "mesh" / "texture.png").shape == (32, 32, 3)
    assert (run / "mesh" / "preview.png").is_file()


def test_a_re_export_that_would_mesh_again_is_refused_after_refinement(finished_tiny_run, tiny_prior_dir, tmp_path,
                                                                       capsys):
    """The texture stage's mesh was made when the stage began; an option that makes a mesh would
    be ignored by --export, so it is refused, naming what does apply, and nothing is written.
    A run that stops at its Gaussians is meshed by --export, so there the option applies."""
    run = copy_run(finished_tiny_run, tmp_path / "run")
    before = snapshot(run)
    assert launch("--export", str(run), "export.close_voxels=5", "export.texture_size=32") == 2
    err = capsys.readouterr().err
    assert "export.close_voxels cannot change this run's mesh" in err and "texture_size" not in err.split("Only")[0]
    assert "Only export.dilation, export.preview, export.preview_size, export.texture_size apply" in err
    assert "Traceback" not in err
    assert snapshot(run) == before

    gaussians = tmp_path / "gaussians"
    assert launch(*run_args(tiny_prior_dir, gaussians, *ONE_STEP)) == 0
    assert launch("--export", str(gaussians), "export.close_voxels=1", "export.texture_size=32") == 0
    assert imageio.imread(gaussians / "mesh" / "texture.png").shape == (32, 32, 3)
    settings = OmegaConf.load(gaussians / "mesh" / "export.yaml")  # the mesh says what made it; config.yaml does not
    assert (settings.export.close_voxels, settings.export.texture_size) == (1.0, 32)
    assert OmegaConf.load(gaussians / "config.yaml").export.close_voxels != 1.0


def test_re_export_at_another_texture_size_after_refinement(finished_tiny_run, tmp_path, capsys):
    run = copy_run(finished_tiny_run, tmp_path / "run")
    assert launch("--export", str(run), "export.texture_size=128") == 0
    assert imageio.imread(run / "mesh" / "texture.png").shape == (128, 128, 3)
    assert len(trimesh.load(run / "mesh" / "model.glb", force="mesh").faces) > 0
    assert "Traceback" not in capsys.readouterr().err

    # a checkpoint that does not fit the model (here: a tensor missing) is refused, naming it
    state = torch.load(run / "ckpts" / "last.ckpt", weights_only=False)
    del state["recipe"]["stages"]["refine"]["representation"]["scene.uvs"]
    torch.save(state, run / "ckpts" / "last.ckpt")
    assert launch("--export", str(run)) == 2
    err = capsys.readouterr().err
    assert f"'{run / 'ckpts' / 'last.ckpt'}' does not fit this run's config" in err and "Traceback" not in err


def test_a_damaged_checkpoint_is_refused_naming_it_and_offering_the_previous_one(finished_tiny_run, tmp_path, capsys):
    run = copy_run(finished_tiny_run, tmp_path / "run")
    last, prev = run / "ckpts" / "last.ckpt", run / "ckpts" / "prev.ckpt"
    assert torch.load(prev, weights_only=False)["recipe"]["step"] == 2  # rotated when step 4 was saved
    with open(last, "r+b") as handle:
        handle.truncate(last.stat().st_size // 2)
    before = snapshot(run)
    for command in (["--resume", str(run), "trainer.max_steps=6"], ["--export", str(run)]):
        assert launch(*command) == 2
        err = capsys.readouterr().err
        assert f"The checkpoint '{last}' is damaged" in err and "Traceback" not in err
        assert f"'{prev}' (step 2), is intact" in err and f"cp {prev} {last}" in err
        assert snapshot(run) == before
    shutil.copyfile(prev, last)  # the advice
    assert launch("--resume", str(run), "trainer.max_steps=6") == 0
    assert json.loads((run / "metrics.json").read_text())["steps"] == 6


def test_a_sweep_whose_trials_break_refine_steps_fails_before_the_first_trial(tmp_path, capsys):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("grid:\n  trainer.max_steps: [40, 10]\noverrides:\n  system.refine_steps: 20\n")
    assert launch("--config", CONFIG, "--sweep", str(sweep), "--output-dir", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert "trial 001_max_steps_10" in err and "system.refine_steps (20) must be in [0, trainer.max_steps)" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_a_large_mesh_to_texture_shows_its_preparation_steps(tiny_prior_dir, tmp_path, capsys):
    big = trimesh.creation.icosphere(subdivisions=5)  # max_faces below makes its 20480 faces "large"
    faces = len(big.faces)
    big.export(tmp_path / "big.obj")
    code = launch("--config", str(REPO / "configs/texture.yaml"), "--prompt", "a red cube", "--mesh", str(tmp_path / "big.obj"),
                  "--output-dir", str(tmp_path / "run"), "--device", "cpu", f"system.prior.pretrained={tiny_prior_dir}",
                  "system.texture.max_faces=2000", "trainer.max_steps=1", "trainer.video=false", "trainer.preview_every=0",
                  "trainer.progress_bar=false", "system.texture.camera.height=16", "system.texture.camera.width=16",
                  "export.texture_size=64", "export.preview=false")
    assert code == 0
    err = capsys.readouterr().err
    for step in ("mesh: reading", f"mesh: decimating {faces} -> 2000 faces", "mesh: UV unwrapping 2000 faces (xatlas)",
                 "mesh: ready", "4/4"):
        assert step in err
    assert 1900 <= json.loads((tmp_path / "run" / "metrics.json").read_text())["export"]["num_faces"] <= 2000
