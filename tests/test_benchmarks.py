"""The benchmark suite runs and writes well-formed results (no timing is asserted here).

``benchmarks/run.py --only smoke`` exercises every measurement at tiny sizes with the tests'
tiny random prior, into a temporary folder; an entry from an earlier run must survive.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HANG_GUARD = 3600
"""Seconds after which the smoke run counts as hung (a guard, not a speed limit: a busy 2-core
machine takes far longer than an idle one)."""
sys.path.insert(0, str(REPO / "benchmarks"))

from suite.cases import all_cases, case_mode, select  # noqa: E402
from suite.end_to_end import step_breakdown  # noqa: E402

EARLIER_ENTRY = {
    "status": "ok", "mode": "full", "machine": {"cpu": "earlier CPU", "date": "2026-01-01 00:00 UTC"},
    "case_seconds": 1.0, "case_peak_rss_mb": 100.0, "error": None,
    "result": {"variants": [{"scene": "initialisation", "size": 8, "n_samples": 8, "rays": 64, "occupied_cells": 0.5,
                             "queried_fraction": 0.5, "seconds": 0.1, "naive_seconds": 0.25, "rate": 5120.0,
                             "naive_rate": 2048.0, "speedup": 2.5, "unit": "samples/s"}], "threads": 1},
}


def finite_numbers(value) -> bool:
    """Every number in a nested JSON value is finite."""
    if isinstance(value, dict):
        return all(finite_numbers(v) for v in value.values())
    if isinstance(value, list):
        return all(finite_numbers(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


def test_smoke_run_writes_well_formed_results_and_keeps_earlier_entries(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(
        {"schema": 1, "machine": {}, "updated": None, "published": [], "benchmarks": {"throughput/volume": {"full": EARLIER_ENTRY}}}))
    result = subprocess.run([sys.executable, "benchmarks/run.py", "--only", "smoke", "--output-dir", str(tmp_path)],
                            cwd=REPO, capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0, result.stdout + result.stderr

    results = json.loads((tmp_path / "results.json").read_text())
    assert {"cpu", "cores", "torch", "date"} <= set(results["machine"]) and results["machine"]["cores"] >= 1
    assert results["published"] and all(p["source"] for p in results["published"])
    assert results["benchmarks"]["throughput/volume"]["full"] == EARLIER_ENTRY  # merged, not wiped
    smoke = results["benchmarks"]["smoke"]["smoke"]
    assert smoke["status"] == "ok" and smoke["error"] is None and smoke["case_peak_rss_mb"] > 0
    out = smoke["result"]
    assert finite_numbers(out)
    run = out["end_to_end"]
    assert run["steps"] == 4 and run["prompt_to_glb_seconds"] > 0 and run["peak_rss_mb"] > 0 and run["glb_bytes"] > 0
    assert {"render", "prior", "backward", "optimizer", "upkeep", "other"} <= set(run["breakdown"]["shares"])
    assert sum(run["breakdown"]["seconds"].values()) == pytest.approx(run["breakdown"]["step_seconds"], rel=1e-6)
    for kind in ("volume", "splat", "raster"):
        for variant in out["throughput"][kind]["variants"]:
            assert {"rate", "naive_rate", "speedup", "unit"} <= set(variant)
    assert len(out["throughput"]["volume"]["variants"]) == 2  # at initialisation, and trained by the end-to-end run
    scene = out["sd_scale"]["scenes"]["cpu"]
    assert 0.0 <= scene["share_outside_prior"] <= 1.0

    markdown = (tmp_path / "RESULTS.md").read_text()
    assert "## Results" in markdown and "published, not measured here" in markdown
    assert "2.5×" in markdown  # the earlier volume entry is still reported
    assert str(REPO) not in markdown and str(tmp_path) not in markdown


def test_selection_by_name_and_group():
    cases = all_cases()
    names = [c.name for c in select(cases, ["throughput", "end_to_end/dreamfusion"], "quick")]
    assert names == ["end_to_end/dreamfusion", "throughput/volume", "throughput/splat", "throughput/raster"]
    assert "smoke" not in [c.name for c in select(cases, None, "full")]
    assert case_mode(next(c for c in cases if c.name == "smoke"), "quick") == "smoke"
    assert case_mode(next(c for c in cases if c.name == "quality/dreamgaussian"), "quick") is None
    with pytest.raises(KeyError):
        select(cases, ["no_such_case"], "full")


def test_step_breakdown_shares_add_up():
    metrics = {"steps_this_run": 10, "train_seconds": 2.0,
               "seconds_per_step_by_section": {"render": 0.05, "prior": 0.08, "backward": 0.04, "optimizer": 0.01,
                                               "upkeep": 0.005, "export": 0.002}}
    b = step_breakdown(metrics)
    assert b["step_seconds"] == pytest.approx(0.2)
    assert b["seconds"]["export (mid-run)"] == pytest.approx(0.002)
    assert sum(b["shares"].values()) == pytest.approx(1.0)


def test_speed_variants_parse_and_their_table_reaches_results_md(tmp_path):
    """``bench_speed.py --variant label=REV:overrides`` and the before/after section of RESULTS.md."""
    from bench_speed import Variant, markdown
    from suite.document import speed_changes

    variant = Variant.parse("fewer steps=HEAD:trainer.max_steps=500,trainer.video=false")
    assert (variant.label, variant.revision, variant.overrides) == ("fewer steps", "HEAD",
                                                                    ["trainer.max_steps=500", "trainer.video=false"])
    with pytest.raises(SystemExit):
        Variant.parse("no-revision")
    run = {"wall": 90.0, "train": 70.0, "video": 10.0, "export": 4.0, "startup": 6.0, "steps": 800, "steps_per_second": 11.4}
    table = markdown("dreamfusion", [variant], {"fewer steps": [run, dict(run, wall=100.0)]}, 2)
    assert "| fewer steps | HEAD | trainer.max_steps=500 trainer.video=false | 95.0 s |" in table  # the median
    (tmp_path / "dreamfusion-speed.md").write_text(table)
    section = "\n".join(speed_changes(tmp_path))
    assert section.startswith("### Prompt -> GLB with configs/dreamfusion.yaml") and "| fewer steps |" in section


def test_speed_bench_leaves_no_stale_worktree(tmp_path, monkeypatch):
    """The revisions are checked out as temporary git worktrees; git forgets them afterwards."""
    import bench_speed

    def worktrees() -> list[str]:
        listing = subprocess.run(["git", "-C", str(REPO), "worktree", "list", "--porcelain"], capture_output=True,
                                 text=True, check=True).stdout
        return [line for line in listing.splitlines() if line.startswith("worktree ")]

    before = worktrees()
    seen = []
    fake = {"wall": 1.0, "train": 1.0, "video": 0.0, "export": 0.0, "startup": 0.0, "steps": 1, "steps_per_second": 1.0}
    monkeypatch.setattr(bench_speed, "run_once",
                        lambda variant, tree, *rest: seen.append((tree / "launch.py").is_file()) or dict(fake))
    bench_speed.main(["--method", "dreamgaussian", "--variant", "then=HEAD", "--output", str(tmp_path / "s.json")])
    assert seen == [True]  # a real checkout was handed to the run
    assert worktrees() == before
    assert "| then | HEAD |" in (tmp_path / "s.md").read_text()


def test_speed_bench_with_image_hands_each_run_the_true_render(tmp_path, monkeypatch):
    """``--image``: every run gets the prompt's true RGBA render (a red cube in its middle), and the table says so."""
    import imageio.v2 as imageio

    import bench_speed

    images = []
    fake = {"wall": 1.0, "train": 1.0, "video": 0.0, "export": 0.0, "startup": 0.0, "steps": 1, "steps_per_second": 1.0}
    monkeypatch.setattr(bench_speed, "run_once",
                        lambda variant, tree, method, out, threads, image=None: images.append(imageio.imread(image))
                        or dict(fake))
    bench_speed.main(["--method", "dreamgaussian-image", "--image", "--variant", "now=WORKTREE", "--repeats", "2",
                      "--output", str(tmp_path / "s.json")])
    assert len(images) == 2 and images[0].shape == (256, 256, 4)
    alpha, rgb = images[0][..., 3] > 127, images[0][..., :3].astype(float)
    assert 0.05 < alpha.mean() < 0.6 and alpha[128, 128] and not alpha[0, 0]  # an object, centred, on nothing
    red = rgb[alpha].mean(0)
    assert red[0] > 2 * red[1] and red[0] > 2 * red[2]
    table = (tmp_path / "s.md").read_text()
    assert "--method dreamgaussian-image --image" in table and 'the true render of "a red cube"' in table
    assert json.loads((tmp_path / "s.json").read_text())["image"] is True


def test_traced_unet_bench_reports_both_forwards_and_their_identity(tiny_prior_dir, tmp_path):
    output = tmp_path / "traced-unet.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_traced_unet.py"), "--prior",
                           str(tiny_prior_dir), "--calls", "2", "--blocks", "2", "--output", str(output)],
                          capture_output=True, text=True, timeout=HANG_GUARD)
    assert done.returncode == 0, done.stderr
    result = json.loads(output.read_text())
    assert result["bit_identical"] is True
    assert [len(result["ms_per_call"][k]) for k in ("eager", "traced")] == [2, 2]
    assert "| traced |" in output.with_suffix(".md").read_text()
