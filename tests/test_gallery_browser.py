"""The sweep gallery in real headless Chromium: images load from file://, sort and filter work.

The page under test is the generated ``index.html`` with a small probe script appended;
Chromium runs it and prints the resulting DOM (``--dump-dom``), from which the probe's
JSON report is read. Skips itself only where Chromium is not installed.
"""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dream3d.media import write_image
from dream3d.sweep.gallery import write_gallery
from dream3d.sweep.results import TrialResult, output_paths

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=10000"]

PROBE = """
<script>
window.addEventListener("load", function () {
  function order() {
    return Array.prototype.map.call(document.querySelectorAll(".card:not([hidden])"), function (c) { return c.dataset.trial; });
  }
  var report = {};
  report.images = Array.prototype.map.call(document.querySelectorAll(".card img.preview"), function (img) {
    return [img.closest(".card").dataset.trial, img.naturalWidth];
  });
  report.initial = order();
  var sort = document.getElementById("sort");
  sort.value = "wall_seconds";
  sort.dispatchEvent(new Event("change"));
  report.by_wall = order();
  document.getElementById("dir").click();
  report.by_wall_descending = order();
  sort.value = "system.guidance.guidance_scale";
  sort.dispatchEvent(new Event("change"));
  report.by_scale_descending = order();
  var filter = document.getElementById("filter");
  filter.value = "blue";
  filter.dispatchEvent(new Event("input"));
  report.filtered = order();
  report.shown = document.getElementById("shown").textContent;
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
});
</script>
"""


def fake_sweep(sweep_dir: Path) -> list[TrialResult]:
    """Four trials with real PNG previews of different sizes; one failed without outputs."""
    specs = [  # prompt, guidance scale, wall seconds, status
        ("a red cube", 5.0, 3.0, "ok"), ("a blue sphere", 20.0, 1.0, "ok"),
        ("a green cone", 7.5, 2.0, "skipped"), ("a blue cube", 50.0, 0.5, "failed"),
    ]
    results = []
    for index, (prompt, scale, wall, status) in enumerate(specs):
        trial = f"{index:03d}_{prompt.replace(' ', '_')}"
        run_dir = sweep_dir / "trials" / trial
        run_dir.mkdir(parents=True)
        if status != "failed":
            image = np.zeros((16 * (index + 1), 32, 3), np.uint8)
            image[..., index] = 200
            write_image(run_dir / "previews" / "step_000004.png", image)
            (run_dir / "mesh").mkdir()
            (run_dir / "mesh" / "model.glb").write_bytes(b"glTF")
        result = TrialResult(trial, {"system.prompt": prompt, "system.guidance.guidance_scale": scale}, status,
                             error="PriorLoadError: not found" if status == "failed" else "",
                             wall_seconds=wall, steps_per_second=None if status == "failed" else 10 / wall,
                             scores={"iou": float("nan") if status == "skipped" else 0.1 * index} if status != "failed" else {})
        for key, value in output_paths(run_dir, sweep_dir).items():
            setattr(result, key, value)
        results.append(result)
    return results


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_gallery_in_headless_chromium(tmp_path):
    sweep_dir = tmp_path / "sweep"
    results = fake_sweep(sweep_dir)
    page = write_gallery(sweep_dir, "browser-test", results)
    probe = sweep_dir / "probe.html"  # beside index.html, so the relative media paths resolve
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    completed = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=600,  # a guard against a hung browser, not a speed limit
    )
    found = re.search(r'<pre id="probe">(.*?)</pre>', completed.stdout, re.S)
    assert found, f"no probe report; chromium exited {completed.returncode}: {completed.stderr[-2000:]}"
    report = json.loads(html.unescape(found.group(1)))
    ids = [r.trial for r in results]
    assert [trial for trial, _ in report["images"]] == ids[:3]  # the failed trial has no preview
    assert all(width == 32 for _, width in report["images"]), report["images"]
    assert report["initial"] == ids
    assert report["by_wall"] == [ids[3], ids[1], ids[2], ids[0]]
    assert report["by_wall_descending"] == [ids[0], ids[2], ids[1], ids[3]]
    assert report["by_scale_descending"] == [ids[3], ids[1], ids[2], ids[0]]
    assert report["filtered"] == [ids[3], ids[1]]
    assert report["shown"].startswith("2 of 4")
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # nothing from the network
    assert 'href="trials/000_a_red_cube/mesh/model.glb"' in text
