"""Run loggers: TensorBoard's event file read back, and the progress file the web app reads."""
from __future__ import annotations

import json

import pytest
from tiny_runs import launch, run_args

from dream3d import optional
from dream3d.loggers import PROGRESS_ENV, TENSORBOARD_DIR


@pytest.mark.skipif(optional.summary_writer() is None, reason="tensorboard is not installed (pip install -e .[app])")
def test_tensorboard_events_hold_every_scalar_and_the_previews(tiny_prior_dir, tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, progress = tmp_path / "run", tmp_path / "progress.json"
    monkeypatch.setenv(PROGRESS_ENV, str(progress))
    assert launch(*run_args(tiny_prior_dir, out, "trainer.logger=tensorboard", "trainer.log_every=1",
                            "trainer.export=false")) == 0
    events = EventAccumulator(str(out / TENSORBOARD_DIR), size_guidance={"images": 0, "scalars": 0}).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "train/t", "train/grad_norm", "train/opacity", "train/param_grad_norm",
            "time/render", "time/prior", "time/backward", "time/optimizer", "time/step_seconds"} <= scalars, scalars
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3, 4]
    norms = [e.value for e in events.Scalars("train/param_grad_norm")]
    assert norms[0] > 0 and norms[1] > 0 and all(n >= 0 for n in norms)  # the Gaussians' steps; then the refinement
    images = events.Images("preview")
    assert [i.step for i in images] == [2, 4]
    assert images[0].width == 4 * 16 and images[0].height == 2 * 16  # four views over their opacity

    report = json.loads(progress.read_text())
    assert report["step"] == report["max_steps"] == 4 and report["eta_seconds"] == 0.0
    assert report["steps_per_second"] > 0 and "opacity" in report["stats"]


def test_tensorboard_missing_is_refused_before_work(tiny_prior_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(optional, "summary_writer", lambda: None)
    assert launch(*run_args(tiny_prior_dir, tmp_path / "run", "trainer.logger=tensorboard")) == 2
    err = capsys.readouterr().err
    assert "needs the tensorboard package" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
