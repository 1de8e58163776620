"""Assemble the app (queue, scores, page) and serve it until Ctrl-C."""
from __future__ import annotations

import logging
from pathlib import Path

from dream3d.app.actions import AppContext, score_after_run
from dream3d.app.jobs import RunQueue
from dream3d.app.layout import CSS, REFRESH_SECONDS, THEME, build
from dream3d.app.methods import method_choices
from dream3d.app.score import Scores
from dream3d.config import ConfigError
from dream3d.methods import load_config
from dream3d.optional import cuda_available

log = logging.getLogger(__name__)

STATE_DIR = ".app"
"""The app's own files, inside the outputs folder (the gallery skips hidden folders)."""


def make_context(outputs: Path, overrides: list[str], method: str | None) -> tuple[AppContext, str]:
    """The shared state, after checking the overrides and ``method`` (``ConfigError`` names what is wrong)."""
    choices = method_choices(gpu=cuda_available())
    if not choices:
        raise ConfigError("No shipped configs were found (configs/*.yaml); run the app from a dream3d checkout.")
    names = [c.name for c in choices]
    if method is not None and method not in names:
        raise ConfigError(f"--method {method!r} is not a shipped config; choose one of: {', '.join(names)}.")
    default = method or names[0]
    load_config(next(c for c in choices if c.name == default).path, overrides)  # a bad override stops here
    state_dir = outputs / STATE_DIR
    scores = Scores(state_dir)
    queue = RunQueue(state_dir, after_run=lambda job: score_after_run(scores, job))
    return AppContext(queue, choices, outputs, state_dir, list(overrides), scores), default


def serve(host: str, port: int, outputs: Path, overrides: list[str], method: str | None,
          refresh_seconds: float = REFRESH_SECONDS) -> int:
    """Serve the page on ``host:port`` until interrupted; a running run is then stopped with a checkpoint."""
    if not 0.1 <= refresh_seconds <= 60:
        raise ConfigError(f"--refresh must be between 0.1 and 60 seconds, got {refresh_seconds}.")
    outputs = Path(outputs).absolute()
    context, default = make_context(outputs, overrides, method)
    page = build(context, default, refresh_seconds)
    try:
        page.launch(server_name=host, server_port=port, allowed_paths=[str(outputs)], theme=THEME, css=CSS,
                    footer_links=[])
    finally:
        log.info("Closing: a running run is stopped after its current step, with a checkpoint.")
        context.queue.close()
    return 0
