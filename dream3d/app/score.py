"""The ground-truth score of a result made with the bundled prior (``dream3d.eval.evaluate_run``).

Only a closed-vocabulary prior (its folder has ``vocabulary.json``) whose prompt names one of
its colour/shape pairs has a ground truth. Scores are cached by the GLB's path and time, in
memory and as JSON in the app's state folder, so the gallery does not score a run twice.
"""
from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from dream3d.app.runs import RunRecord
from dream3d.atomic import write_text
from dream3d.eval.evaluate import EvalError, evaluate_run
from dream3d.prior.catalog import parse_prompt
from dream3d.prior.source import local_folder
from dream3d.prior.vocabulary import read_vocabulary


def has_ground_truth(record: RunRecord) -> bool:
    """A bundled (closed-vocabulary) prior, a prompt naming one of its pairs, and a mesh."""
    folder = local_folder(record.prior) if record.prior else None
    return (record.glb is not None and folder is not None and read_vocabulary(folder) is not None
            and parse_prompt(record.prompt) is not None)


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def score_markdown(scores: dict) -> str:
    """An ``EvalResult.to_dict()`` as a short Markdown summary."""
    verdict = "pass" if scores["passed"] else "fail"
    split = "held-out pair" if scores["held_out"] else "seen pair"
    return "\n".join([
        f"**Ground truth: {verdict}** ({split}, scored against the true primitive)",
        "",
        "| | asked | made |",
        "|---|---|---|",
        f"| shape | {scores['target_shape']} | {scores['predicted_shape']} {_mark(scores['shape_correct'])} |",
        f"| colour | {scores['target_colour']} | {scores['predicted_colour']} {_mark(scores['colour_correct'])} |",
        "",
        (f"Chamfer {scores['chamfer']:.3f} · F-score (at 0.05) {scores['fscore']:.2f} · normal consistency "
         f"{scores['normal_consistency']:.2f} · genus {scores['genus']} (true {scores['true_genus']})"),
    ])


class Scores:
    """Ground-truth scores of runs, computed once per exported mesh."""

    def __init__(self, state_dir: Path):
        self.folder = Path(state_dir) / "scores"
        self._memory: dict[str, dict] = {}
        self._lock = threading.Lock()

    def _key(self, record: RunRecord) -> str:
        stamp = record.glb.stat().st_mtime_ns if record.glb is not None else 0
        return hashlib.sha1(f"{record.run_dir.resolve()}|{stamp}".encode()).hexdigest()[:16]

    def cached(self, record: RunRecord) -> dict | None:
        """The score if it was already computed, without computing it."""
        if not has_ground_truth(record):
            return None
        key = self._key(record)
        if key in self._memory:
            return self._memory[key]
        try:
            scores = json.loads((self.folder / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None
        self._memory[key] = scores
        return scores

    def score(self, record: RunRecord) -> dict | None:
        """The score (computing it, a few seconds on a CPU), or None without a ground truth."""
        if not has_ground_truth(record):
            return None
        with self._lock:
            found = self.cached(record)
            if found is not None:
                return found
            try:
                scores = json.loads(json.dumps(evaluate_run(record.run_dir).to_dict(), default=float))  # as cached
            except EvalError as error:
                scores = {"error": str(error)}
            key = self._key(record)
            self._memory[key] = scores
            write_text(self.folder / f"{key}.json", json.dumps(scores, default=float))
            return scores


def describe(scores: dict | None) -> str:
    """Markdown for the page: the summary, the reason it could not be scored, or nothing."""
    if not scores:
        return ""
    if "error" in scores:
        return f"Ground truth: could not score this mesh ({scores['error']})."
    return score_markdown(scores)
