"""The web app in real headless Chromium: make a tiny run, watch it, look at and download the
result, stop a second run and resume it.

``python -m dream3d.app`` runs as a child process with the tiny random prior, exactly as a
user starts it; Chromium is driven over the DevTools protocol (``cdp.py``) with real typing
and mouse clicks. Screenshots are kept under the test's tmp dir (``screenshots/``). Skips
itself where gradio or Chromium is not installed.
"""
from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
import trimesh
from cdp import CHROMIUM, Browser

from dream3d.naming import slugify

gradio = pytest.importorskip("gradio", reason="the web app needs gradio (pip install -e .[app])")

REPO = Path(__file__).resolve().parents[1]
HANG_GUARD = 300.0
"""Seconds after which a wait counts as hung: a guard against hangs, never a speed limit."""
METHOD = "dreamgaussian-fast"
"""The single-view DreamGaussian recipe: its run folders are under ``outputs/dreamgaussian_fast``."""
STEPS = 60
APP_OVERRIDES = [
    f"trainer.max_steps={STEPS}", "system.refine_steps=2", "trainer.checkpoint_every=100", "trainer.progress_bar=false",
    "trainer.preview_resolution=32", "trainer.video_frames=8", "trainer.video_resolution=32",
    "system.gaussians.num_points=500", "system.resolutions=[16,16,16]", "system.texture.camera.height=16",
    "system.texture.camera.width=16", "system.backproject.resolution=32", "system.sdedit.ddim_steps=2",
    "export.resolution=32", "export.texture_size=64", "export.preview_size=32",
]
"""A DreamGaussian run of a few seconds (58 Gaussian steps, 2 refinement steps), a preview every 3 steps."""
STATE = """(() => ({
  status: document.querySelector('#d3-status').innerText.trim(),
  error: (document.querySelector('#d3-form-error .d3-message') || {}).innerText || '',
  progress: document.querySelector('#d3-progress').innerText.trim(),
  fraction: Number((document.querySelector('#d3-progress [data-fraction]') || {dataset: {fraction: 0}}).dataset.fraction),
  preview: (document.querySelector('#d3-preview img') || {}).src || '',
  glb: !!document.querySelector('#d3-glb') && document.querySelector('#d3-glb').offsetParent !== null,
}))()"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_app(prior: Path, outputs: Path, port: int, log: Path) -> subprocess.Popen:
    """``python -m dream3d.app`` on ``port``; returns once it serves the page."""
    with open(log, "wb") as out:
        app = subprocess.Popen(
            [sys.executable, "-m", "dream3d.app", "--port", str(port), "--outputs", str(outputs), "--method",
             METHOD, "--refresh", "0.3", f"system.prior.pretrained={prior}", *APP_OVERRIDES],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, OMP_NUM_THREADS="1"))
    deadline = time.monotonic() + HANG_GUARD
    while "Running on local URL" not in log.read_text(errors="replace"):
        assert app.poll() is None, f"the app exited: {log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, "the app did not start"
        time.sleep(0.2)
    return app


def wait_state(browser: Browser, done, what: str, poll: float = 0.2, seen: list | None = None) -> dict:
    """Poll the page until ``done(state)``; every distinct state goes to ``seen``."""
    deadline = time.monotonic() + HANG_GUARD
    while True:
        state = browser.js(STATE)
        if seen is not None and (not seen or seen[-1] != state):
            seen.append(state)
        assert not state["error"], state["error"]
        assert "Traceback" not in state["status"], state["status"]
        if done(state):
            return state
        assert time.monotonic() < deadline, f"hung waiting for {what}; last state {state}"
        time.sleep(poll)


def non_background_fraction(png: bytes) -> float:
    """Share of pixels that are not the viewer's white background."""
    image = imageio.imread(io.BytesIO(png))[..., :3].astype(int)
    return float((image.min(axis=-1) < 230).mean())


def check_glb(path: Path) -> None:
    """A glTF 2.0 binary: magic, version, the length in its header, a mesh with faces."""
    data = path.read_bytes()
    magic, version, length = struct.unpack("<4sII", data[:12])
    assert (magic, version, length) == (b"glTF", 2, len(data))
    assert len(trimesh.load(path, force="mesh").faces) > 0


def run_of(outputs: Path, prompt: str) -> Path:
    found = list((outputs / slugify(METHOD)).glob(slugify(prompt) + "@*"))
    assert len(found) == 1, found
    return found[0]


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_make_watch_download_stop_and_resume_in_a_browser(tiny_prior_dir, tmp_path):
    shots, downloads, outputs = tmp_path / "screenshots", tmp_path / "downloads", tmp_path / "outputs"
    shots.mkdir()
    port = free_port()
    app = start_app(tiny_prior_dir, outputs, port, tmp_path / "app.log")
    try:
        with Browser(tmp_path / "profile") as browser:
            browser.allow_downloads(downloads)
            browser.navigate(f"http://127.0.0.1:{port}/")
            browser.wait_for("!!document.querySelector('#d3-status [data-error]')", HANG_GUARD)  # the first refresh

            # bad input: a message in the page, never a traceback
            browser.click("#d3-run")
            message = browser.wait_for("(document.querySelector('#d3-form-error .d3-message') || {}).innerText",
                                       HANG_GUARD)
            assert message.startswith("The prompt is empty")
            browser.screenshot(shots / "1-empty-prompt.png")

            # make and watch
            browser.type_into("#d3-prompt textarea", "a red cube")
            browser.click("#d3-run")
            assert browser.wait_for("(document.querySelector('#d3-form-error .d3-message') || {innerText: 'ok'}).innerText "
                                    "=== 'ok' || null", HANG_GUARD)
            seen: list[dict] = []
            wait_state(browser, lambda s: s["status"] == "Training.", "training to start", seen=seen)
            browser.screenshot(shots / "2-training.png")
            final = wait_state(browser, lambda s: s["status"].startswith("Done"), "the run to end", seen=seen)
            assert final["fraction"] == 1.0 and final["progress"] == f"Step {STEPS} of {STEPS}"
            assert any(re.match(r"Step \d+ of 60 · [\d.]+ steps/s · (about \d+ (s|min \d\d s|h \d\d min)|under a second) left · loss ", s["progress"])
                       for s in seen)
            during = list(dict.fromkeys(s["preview"] for s in seen if s["status"] == "Training." and s["preview"]))
            assert len(during) >= 2, f"the preview did not change during the run: {during}"
            first, last = (imageio.imread(urllib.request.urlopen(url).read()) for url in (during[0], during[-1]))
            assert first.shape == (64, 128, 3) and not np.array_equal(first, last)

            # the result: the 3D viewer shows the asset (its own label and buttons hidden), the GLB downloads
            browser.js("document.querySelectorAll('#d3-model label, #d3-model .icon-button-wrapper')"
                       ".forEach(e => e.style.visibility = 'hidden')")
            fraction = 0.0
            deadline = time.monotonic() + HANG_GUARD
            while fraction < 0.01:
                assert time.monotonic() < deadline, "the 3D viewer stayed empty"
                time.sleep(0.5)
                fraction = non_background_fraction(browser.screenshot(shots / "3-viewer.png", "#d3-model canvas"))
            browser.screenshot(shots / "4-done.png")
            assert wait_state(browser, lambda s: s["glb"], "the download buttons")
            browser.click("#d3-glb")
            deadline = time.monotonic() + HANG_GUARD
            while not (glb := next(iter(downloads.glob("*.glb")), None)):
                assert time.monotonic() < deadline, "no GLB was downloaded"
                time.sleep(0.2)
            time.sleep(0.5)  # the download is renamed from .crdownload once complete
            check_glb(glb)

            # stop a second run: a checkpoint; resume it to the end
            browser.type_into("#d3-prompt textarea", "a blue cube")
            browser.click("#d3-run")
            wait_state(browser, lambda s: s["status"] == "Training.", "the second run to train")
            browser.click("#d3-stop")
            stopped = wait_state(browser, lambda s: s["status"].startswith("Stopped"), "the run to stop")
            browser.screenshot(shots / "5-stopped.png")
            step = int(re.match(r"Stopped at step (\d+) of 60\.", stopped["status"]).group(1))
            run = run_of(outputs, "a blue cube")
            assert 0 < step < STEPS and not (run / "mesh").exists()
            assert torch.load(run / "ckpts" / "last.ckpt", weights_only=False)["recipe"]["step"] == step
            browser.click("#d3-resume")
            wait_state(browser, lambda s: s["status"].startswith("Done"), "the resumed run to end")
            assert json.loads((run / "metrics.json").read_text())["steps"] == STEPS
            check_glb(run / "mesh" / "model.glb")

            # the gallery: both runs, newest first; opening one shows it with its result
            browser.js("Array.from(document.querySelectorAll('button[role=tab]'))"
                       ".find(e => e.innerText.trim() === 'Gallery').id = 'd3-tab-gallery'")
            browser.click("#d3-tab-gallery")
            browser.wait_for("document.querySelectorAll('#d3-gallery button.thumbnail-item').length === 2", HANG_GUARD)
            browser.screenshot(shots / "6-gallery.png")
            browser.click('#d3-gallery button[aria-label="Thumbnail 2 of 2"]')
            browser.wait_for("document.querySelector('#d3-title').innerText.includes('a red cube')", HANG_GUARD)
            opened = wait_state(browser, lambda s: s["status"].startswith("Done") and s["glb"], "the opened run")
            assert opened["progress"] == f"Step {STEPS} of {STEPS}"
            assert "Traceback" not in browser.js("document.body.innerText")
    finally:
        app.send_signal(signal.SIGINT)  # Ctrl-C: the app stops a running run with a checkpoint, then exits
        try:
            app.wait(timeout=60)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()
