"""Fault injection into the writers: a full disk (a writer that raises ``ENOSPC`` half-way),
and ``kill -9`` in the middle of a checkpoint write, between a temporary write and its rename,
and inside an export's folder swap. Afterwards the previous checkpoint, ``mesh/`` and
``metrics.json`` are intact, the message names the file, and a retry succeeds."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_runs import REPO, copy_run, launch, snapshot

from dream3d import atomic
from dream3d.export import pipeline

HANG_GUARD = 600
"""Seconds before a child process counts as hung (never a speed limit)."""

KILLED_CHILD = """
import os, signal, sys
from pathlib import Path
from dream3d import atomic
where, name, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
def die():
    os.kill(os.getpid(), signal.SIGKILL)
if where == "rename":  # the temporary file is complete; kill before it is renamed to `name`
    real_replace = os.replace
    def replace(src, dst, **kwargs):
        if Path(dst).name.startswith(name):
            die()
        return real_replace(src, dst, **kwargs)
    os.replace = replace
if where == "write":  # kill half-way through writing a temporary file whose name starts with `name`
    real_write = atomic.write_file
    def write_file(path, data, sync=False):
        if Path(path).name.startswith(name):
            Path(path).write_bytes(bytes(data[: len(data) // 2]))
            die()
        return real_write(path, data, sync)
    atomic.write_file = write_file
from dream3d.cli import main
sys.exit(main(argv))
"""


def killed(where: str, name: str, *argv: str) -> None:
    """Run ``launch.py argv`` in a child that SIGKILLs itself at the chosen point; check it did."""
    child = subprocess.run([sys.executable, "-c", KILLED_CHILD, where, name, *argv], cwd=REPO,
                           capture_output=True, text=True, timeout=HANG_GUARD, check=False,
                           env=dict(os.environ, DREAM3D_DEBUG="1"))
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]


def kept(run: Path) -> dict[str, bytes]:
    """What must survive a fault: the checkpoints, the mesh and the metrics (not previews)."""
    return {k: v for k, v in snapshot(run).items() if not k.startswith("previews")}


def hidden_leftovers(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob(".*") if p.name != ".dream3d.lock")


def steps(run: Path) -> int:
    return json.loads((run / "metrics.json").read_text())["steps"]


@pytest.mark.parametrize("where", ["write", "rename"])
def test_kill_9_while_saving_a_checkpoint_keeps_the_previous_one(where, finished_tiny_run, tmp_path):
    run = copy_run(finished_tiny_run, tmp_path / "run")
    before = kept(run)
    killed(where, ".last." if where == "write" else "last.ckpt", "--resume", str(run), "trainer.max_steps=6")
    after = kept(run)
    assert after["ckpts/last.ckpt"] == before["ckpts/last.ckpt"]
    assert after["metrics.json"] == before["metrics.json"]
    assert {k: v for k, v in after.items() if k.startswith("mesh")} == {k: v for k, v in before.items() if k.startswith("mesh")}
    assert [Path(p).parent.name for p in hidden_leftovers(run)] == ["ckpts"]  # the temporary checkpoint
    assert launch("--resume", str(run), "trainer.max_steps=6") == 0  # the retry
    assert steps(run) == 6 and hidden_leftovers(run) == []


@pytest.mark.parametrize("moment", ["before the swap", "between the renames"])
def test_kill_9_during_an_export_keeps_the_previous_mesh(moment, finished_tiny_run, tmp_path):
    run = copy_run(finished_tiny_run, tmp_path / "run")
    before = snapshot(run / "mesh")
    killed("rename", ".mesh.old-" if moment == "before the swap" else "mesh", "--export", str(run), "export.texture_size=32")
    if moment == "before the swap":
        assert snapshot(run / "mesh") == before
    else:  # the old folder was moved aside, the new one not yet in: the next export puts the old one back
        (old,) = run.glob(".mesh.old-*")
        assert snapshot(old) == before and not (run / "mesh").exists()
    assert any(p.startswith(".mesh.new-") for p in hidden_leftovers(run))
    assert launch("--export", str(run), "export.texture_size=32") == 0  # the retry
    assert hidden_leftovers(run) == [] and (run / "mesh" / "preview.png").is_file()
    assert snapshot(run / "mesh")["texture.png"] != before["texture.png"]


def full_disk(prefix: str):
    """A ``dream3d.atomic.write_file`` that writes half, then fails with ENOSPC, for files whose
    temporary name starts with ``prefix``."""
    real = atomic.write_file

    def write_file(path, data, sync=False):
        if Path(path).name.startswith(prefix):
            Path(path).write_bytes(bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, data, sync)

    return write_file


@pytest.mark.parametrize("what, prefix, command", [
    ("last.ckpt", ".last.", ["--resume", "{run}", "trainer.max_steps=6"]),
    ("texture.png", ".texture.", ["--export", "{run}"]),
    ("metrics.json", ".metrics.", ["--resume", "{run}", "trainer.export=false"]),
])
def test_a_full_disk_exits_2_naming_the_file_and_keeps_the_last_good_files(
        what, prefix, command, finished_tiny_run, tmp_path, monkeypatch, capsys):
    run = copy_run(finished_tiny_run, tmp_path / "run")
    before = kept(run)
    argv = [part.format(run=run) for part in command]
    monkeypatch.setattr(atomic, "write_file", full_disk(prefix))
    assert launch(*argv) == 2
    err = capsys.readouterr().err
    assert "no space left on the disk while writing" in err and what in err and "it needs about" in err
    assert "Traceback" not in err
    assert kept(run) == before and hidden_leftovers(run) == []
    monkeypatch.undo()
    assert launch(*argv) == 0  # the retry, with space again


def test_a_full_disk_outside_the_atomic_writers_is_a_clean_exit_2(finished_tiny_run, tmp_path, monkeypatch, capsys):
    run = copy_run(finished_tiny_run, tmp_path / "run")
    before = kept(run)

    def no_space(prefix: str = "", dir: str = "") -> str:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(dir) / prefix))

    monkeypatch.setattr(pipeline.tempfile, "mkdtemp", no_space)
    assert launch("--export", str(run)) == 2
    err = capsys.readouterr().err
    assert f"no space left on the disk while writing '{run / '.mesh.new-'}'" in err and "Traceback" not in err
    assert kept(run) == before
