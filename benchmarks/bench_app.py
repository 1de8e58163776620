"""The web app's cost: time from pressing Run to the first preview, and steps/s next to the CLI.

One run through the command line, then the same run (same config, same overrides, including
the app's live-preview cadence) through ``python -m dream3d.app`` with a headless Chromium
page watching it, as a person would. Steps/s is each run's own ``metrics.json`` (the training
loop only), so the difference is what the app and the watching page cost the run.

Usage: ``python benchmarks/bench_app.py [--config dreamfusion] [--steps 100] [--threads 2]``
(the bundled prior; needs gradio and Chromium). Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from cdp import Browser

from dream3d.app.make import live_overrides


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def cli_run(config: str, steps: int, out: Path, env: dict) -> dict:
    start = time.perf_counter()
    subprocess.run([sys.executable, "launch.py", "--config", f"configs/{config}.yaml", "--prompt", "a red cube",
                    "--output-dir", str(out), *live_overrides(steps), f"trainer.max_steps={steps}"],
                   cwd=REPO, env=env, check=True, capture_output=True)
    return {"wall_s": time.perf_counter() - start, **{k: metrics(out)[k] for k in ("steps_per_second", "train_seconds")}}


def app_run(config: str, steps: int, outputs: Path, env: dict, port: int = 7899, watched: bool = True) -> dict:
    log = outputs / "app.log"
    outputs.mkdir(parents=True)
    with open(log, "wb") as sink:
        app = subprocess.Popen([sys.executable, "-m", "dream3d.app", "--port", str(port), "--outputs", str(outputs),
                                "--method", config, f"trainer.max_steps={steps}"], cwd=REPO, env=env, stdout=sink,
                               stderr=subprocess.STDOUT)
    try:
        while "Running on local URL" not in log.read_text():
            time.sleep(0.2)
        with Browser(outputs / "profile", timeout=120) as page:
            page.navigate(f"http://127.0.0.1:{port}/")
            page.wait_for("!!document.querySelector('#d3-status [data-error]')", 120)
            page.type_into("#d3-prompt textarea", "a red cube")
            start = time.perf_counter()
            page.click("#d3-run")
            page.wait_for("!!document.querySelector('#d3-preview img')", 600, poll=0.1)
            first_preview = time.perf_counter() - start
            if not watched:  # the page goes away: what the app alone costs
                page.navigate("about:blank")
                while not any("wall_seconds" in p.read_text() for p in (outputs / config).glob("*/metrics.json")):
                    time.sleep(0.5)
                done = scored = time.perf_counter() - start  # on disk (the score is not waited for)
            else:
                page.wait_for("document.querySelector('#d3-status').innerText.startsWith('Done')", 1800, poll=0.5)
                done = time.perf_counter() - start
                page.wait_for("document.querySelector('#d3-score').innerText.includes('Ground truth')", 600, poll=0.5)
                scored = time.perf_counter() - start
    finally:
        app.send_signal(2)
        app.wait(60)
    run_dir = next((outputs / config).iterdir())
    return {"run_to_first_preview_s": first_preview, "run_to_done_s": done, "run_to_score_s": scored,
            **{k: metrics(run_dir)[k] for k in ("steps_per_second", "train_seconds")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="dreamfusion")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--app-first", action="store_true", help="run the app's run before the CLI's (order effects)")
    parser.add_argument("--unwatched", action="store_true", help="leave the page once the run has started")
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), GRADIO_ANALYTICS_ENABLED="False")
    with tempfile.TemporaryDirectory() as tmp:
        if args.app_first:
            app = app_run(args.config, args.steps, Path(tmp) / "app", env, watched=not args.unwatched)
            cli = cli_run(args.config, args.steps, Path(tmp) / "cli", env)
        else:
            cli = cli_run(args.config, args.steps, Path(tmp) / "cli", env)  # also warms the initial-shape cache
            app = app_run(args.config, args.steps, Path(tmp) / "app", env, watched=not args.unwatched)
    print(json.dumps({"config": args.config, "steps": args.steps, "threads": args.threads, "app_first": args.app_first,
                      "watched": not args.unwatched,
                      "cli": cli, "app": app,
                      "app_over_cli_steps_per_second": app["steps_per_second"] / cli["steps_per_second"]}))


if __name__ == "__main__":
    main()
