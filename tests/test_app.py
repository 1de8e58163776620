"""The web app's parts without a browser: checks before work, the run queue, reading runs back.

None of these need gradio: the app's modules other than the page itself do not import it.
"""
from __future__ import annotations

import json
import shutil
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import imageio.v2 as imageio
import numpy as np
import pytest

from dream3d.app import actions, score
from dream3d.app.actions import AppContext
from dream3d.app.downloads import obj_bundle
from dream3d.app.jobs import JobState, RunQueue, error_message
from dream3d.app.make import MakeRequest, live_overrides
from dream3d.app.methods import method_choices
from dream3d.app.runs import find_runs, read_run
from dream3d.app.score import Scores, has_ground_truth
from dream3d.app.score import describe as describe_score
from dream3d.app.watch import describe, queue_summary

REPO = Path(__file__).resolve().parents[1]
HANG_GUARD = 120.0
"""Seconds after which a fake child counts as hung (a guard, not a speed limit)."""

FAKE_CHILD = r"""
import signal, sys, time
kind = sys.argv[1]
if kind == "fail":
    print("loading...\nerror: The prompt uses words the prior does not know: 'dragon'.\nIt knows only: cube, red.")
    sys.exit(2)
if kind == "crash":
    print("Traceback (most recent call last):\n  File 'x.py', line 1\nRuntimeError: boom")
    sys.exit(1)
stop = []
signal.signal(signal.SIGINT, lambda *a: stop.append(1))
print("ready", flush=True)
deadline = time.time() + float(kind)
while time.time() < deadline and not stop:
    time.sleep(0.02)
sys.exit(130 if stop else 0)
"""
"""A stand-in for ``launch.py``: ``fail``/``crash`` exit at once; a number sleeps that long,
or until SIGINT, which it answers with 130 like a stopped run."""


FAKE_SCORES = {"prompt": "a red cube", "target_shape": "cube", "target_colour": "red", "held_out": False,
               "predicted_shape": "sphere", "predicted_colour": "red", "chamfer": 0.1, "shape_correct": False,
               "colour_correct": True, "passed": False, "chamfer_l1": 0.1, "normal_consistency": 0.8, "fscore": 0.5,
               "genus": 0, "true_genus": 0}
"""What ``evaluate_run`` returns (the evaluation itself is tested in test_eval.py)."""


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while not condition():
        assert time.monotonic() < deadline, f"hung waiting for {what}"
        time.sleep(0.02)


def context(tmp_path: Path, queue: RunQueue | None = None) -> AppContext:
    state = tmp_path / "outputs" / ".app"
    queue = queue or RunQueue(state, command=[sys.executable, "-c", FAKE_CHILD])
    return AppContext(queue, method_choices(gpu=False), tmp_path / "outputs", state, [], Scores(state))


def test_cpu_methods_come_first_without_a_gpu_and_gpu_ones_with_one():
    cpu = method_choices(gpu=False)
    first_gpu = next(i for i, c in enumerate(cpu) if c.needs_gpu)
    assert first_gpu >= 4 and all(c.needs_gpu for c in cpu[first_gpu:])
    assert {"dreamfusion", "dreamgaussian", "prolificdreamer", "texture"} <= {c.name for c in cpu[:first_gpu]}
    assert method_choices(gpu=True)[0].needs_gpu
    by_name = {c.name: c for c in cpu}
    assert by_name["texture"].needs_mesh and not by_name["dreamfusion"].needs_mesh
    assert by_name["dreamgaussian-image"].needs_image and not by_name["dreamgaussian"].needs_image


def test_an_out_of_vocabulary_prompt_is_refused_at_once_listing_the_known_words(tmp_path):
    app = context(tmp_path)
    run_dir, message = actions.start(app, MakeRequest("dreamfusion", "a golden dragon", 800))
    assert run_dir == "" and "'golden', 'dragon'" in message and "It knows only:" in message and "cube" in message
    assert app.queue.waiting() == [] and not (tmp_path / "outputs").exists()
    for request, expected in [(MakeRequest("dreamfusion", "", 800), "The prompt is empty"),
                              (MakeRequest("dreamfusion", "a red cube", 0), "trainer.max_steps must be at least 1"),
                              (MakeRequest("dreamfusion", "a red cube", 1.5), "Steps must be a whole number"),
                              (MakeRequest("texture", "a red cube", 100), "upload an OBJ, GLB or PLY"),
                              (MakeRequest("dreamgaussian-image", "", 100), "makes an asset from an image: upload one"),
                              (MakeRequest("nope", "a red cube", 100), "not one of the shipped configs")]:
        assert expected in actions.start(app, request)[1]
    app.queue.close()


def test_a_good_request_is_queued_as_the_command_line_with_live_previews(tmp_path):
    app = context(tmp_path)
    app.queue.close()  # nothing runs: only what would run is checked
    run_dir, message = actions.start(app, MakeRequest("dreamgaussian", "a red cube", 400, 7))
    assert message == "" and Path(run_dir).parent == tmp_path / "outputs" / "dreamgaussian"
    job = app.queue.latest_for(Path(run_dir))
    assert job.argv[:8] == ["--config", str(REPO / "configs" / "dreamgaussian.yaml"), "--seed", "7",
                            "--prompt", "a red cube", "--output-dir", run_dir]
    assert live_overrides(400) == ["trainer.preview_every=20", "trainer.log_every=2"]
    assert job.argv[8:] == [*live_overrides(400), "trainer.max_steps=400"]
    second, _ = actions.start(app, MakeRequest("dreamgaussian", "a red cube", 400, 7))
    assert second != run_dir  # the same second, the same prompt: another folder

    picture = np.zeros((64, 64, 4), np.uint8)
    picture[16:48, 16:48] = (200, 30, 30, 255)  # an object on a transparent background
    imageio.imwrite(tmp_path / "upload.png", picture)
    image_run, message = actions.start(app, MakeRequest("dreamgaussian-image", "", 400, 0, image=str(tmp_path / "upload.png"),
                                                        elevation=15))
    assert message == ""
    argv = app.queue.latest_for(Path(image_run)).argv
    kept = Path(argv[argv.index("--image") + 1])
    assert "--prompt" not in argv and argv[argv.index("--elevation") + 1] == "15.0"
    assert kept.parent == app.state_dir / "images" and kept.read_bytes() == (tmp_path / "upload.png").read_bytes()


def test_one_run_at_a_time_with_queue_positions_stop_and_errors(tmp_path):
    app = context(tmp_path)
    queue = app.queue
    first = queue.submit(tmp_path / "a", ["30"], "first")
    wait_until(lambda: first.state is JobState.RUNNING and "ready" in first.log_file.read_text(), "the first job")
    second = queue.submit(tmp_path / "b", ["30"], "second")
    third = queue.submit(tmp_path / "c", ["fail"], "third")
    fourth = queue.submit(tmp_path / "d", ["crash"], "fourth")
    assert [queue.position(j.id) for j in (first, second, third, fourth)] == [None, 1, 2, 3]
    view = describe(None, third, queue)
    assert view.status.startswith("Queued: position 2 in the queue (2 runs ahead)") and view.can_stop
    assert queue_summary(queue) == "Running: 'first'. Waiting: 3."

    queue.stop(second.id)  # a waiting job leaves the queue
    assert second.state is JobState.CANCELLED and queue.position(third.id) == 1
    assert actions.stop(app, str(tmp_path / "a")) == ""  # SIGINT, as Ctrl-C
    wait_until(lambda: fourth.state not in (JobState.QUEUED, JobState.RUNNING), "the queue to drain")
    assert first.state is JobState.STOPPED and first.exit_code == 130
    assert third.state is JobState.FAILED and third.message.startswith("The prompt uses words the prior does not know")
    assert third.message.endswith("It knows only: cube, red.")
    assert fourth.state is JobState.FAILED and "Traceback" not in fourth.message
    assert fourth.message == "The run failed (exit code 1): RuntimeError: boom"
    assert describe(None, third, queue).error
    queue.close()


def test_error_messages_never_show_a_traceback():
    assert error_message("x\r50%|###\nerror: bad key 'a'.\nDid you mean 'b'?\n", 2) == "bad key 'a'.\nDid you mean 'b'?"
    assert error_message("error: at the start\n", 2) == "at the start"
    assert error_message("", -9) == "The run was ended by signal 9."


def test_a_finished_run_reads_back_with_its_files_zip_score_and_gallery_entry(finished_tiny_run, tmp_path, monkeypatch):
    outputs = tmp_path / "outputs"
    run = shutil.copytree(finished_tiny_run, outputs / "dreamgaussian" / "a_red_cube@20260101-000000")
    record = read_run(run)
    assert record.finished and not record.stopped and record.steps_done == record.max_steps == 4
    assert record.preview.name == "step_000004.png" and record.glb is not None
    app = context(tmp_path)
    view, files = actions.view(app, str(run))
    assert view.status.startswith("Done: 4 steps in") and view.fraction == 1.0 and not view.can_resume
    assert files.glb == str(record.glb) and files.score == ""  # the tiny prior has no ground truth
    with zipfile.ZipFile(obj_bundle(record, app.state_dir)) as bundle:
        assert sorted(bundle.namelist()) == ["model.mtl", "model.obj", "texture.png"]
    assert [r.run_dir for r in find_runs(outputs)] == [run]  # the app's own .app folder is not a run

    config = run / "config.yaml"  # as if made with the bundled prior: a ground truth to score against
    config.write_text(config.read_text().replace(str(record.prior), "extern/priors/dream3d-shapes-v2"))
    record = read_run(run)
    assert has_ground_truth(record)
    monkeypatch.setattr(score, "evaluate_run", lambda path: SimpleNamespace(to_dict=lambda: dict(FAKE_SCORES)))
    scores = app.scores.score(record)
    assert scores == FAKE_SCORES
    assert describe_score(scores).splitlines()[0] == "**Ground truth: fail** (seen pair, scored against the true primitive)"
    assert "| shape | cube | sphere ✗ |" in describe_score(scores)
    assert app.scores.cached(read_run(run)) == scores
    assert json.loads(next((app.state_dir / "scores").glob("*.json")).read_text()) == scores
    app.queue.close()


def test_a_stopped_run_offers_resume(finished_tiny_run, tmp_path):
    run = shutil.copytree(finished_tiny_run, tmp_path / "outputs" / "x" / "run")
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["wall_seconds"]
    metrics["steps"] = 2
    (run / "metrics.json").write_text(json.dumps(metrics))
    app = context(tmp_path)
    app.queue.close()
    view, files = actions.view(app, str(run))
    assert view.status.startswith("Stopped at step 2 of 4.") and view.can_resume and files.glb is None
    assert actions.resume(app, str(run)) == ""
    job = app.queue.latest_for(run)
    assert job.argv == ["--resume", str(run)] and job.resume
    assert actions.resume(app, str(run)) == "This run is already queued or running."
    assert actions.resume(app, "") .startswith("Choose a run first")


@pytest.mark.parametrize("steps", [1, 19, 20, 400, 10000])
def test_live_previews_are_about_twenty_per_run(steps):
    every = int(live_overrides(steps)[0].split("=")[1])
    assert every >= 1 and steps // every <= 20 + (steps < 20) * steps


def test_the_app_without_gradio_says_how_to_install_it(monkeypatch, capsys):
    from dream3d.app.__main__ import main

    monkeypatch.setitem(sys.modules, "gradio", None)  # as if not installed
    assert main(["--port", "0"]) == 2
    assert capsys.readouterr().err == 'error: the web app needs gradio: pip install -e ".[app]"\n'
