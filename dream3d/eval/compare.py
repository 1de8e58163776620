"""Side-by-side table of two or more batch evaluations on the same prompts.

    python -m dream3d.eval --compare runs/sds/eval.json runs/vsd/eval.json --labels SDS VSD

Each input is the ``eval.json`` a ``--batch`` run writes. Rows are joined on the prompt and,
for batches run at several seeds, the seed; a
prompt missing from a method (a failed run) shows as ``-`` and counts as a fail for it. The
surface metrics, genus and feature rates are over the assets that have them (an older
``eval.json`` has none), each with its count.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dream3d.eval.batch import result_cells
from dream3d.eval.evaluate import EvalError
from dream3d.eval.summary import (
    feature_rates,
    feature_text,
    janus_summary,
    janus_text,
    mean,
    number,
    share,
    surface_means,
    surface_text,
)


@dataclass
class MethodResults:
    """One method's batch: its label and its per-prompt results (``EvalResult`` dicts)."""

    label: str
    rows: dict[str, dict]
    failures: dict[str, str]


def row_key(row: dict) -> str:
    """A result's key: its prompt, with its seed where the batch ran several (``"a red mug (seed 1)"``,
    the label batch failures use)."""
    seed = row.get("seed")
    return row["prompt"] if seed is None else f"{row['prompt']} (seed {seed})"


def load_batch(path: Path, label: str) -> MethodResults:
    """Read a batch's ``eval.json`` (or the folder that holds it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "eval.json"
    try:
        payload = json.loads(path.read_text())
        rows = {row_key(r): r for r in payload["results"]}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise EvalError(f"'{path}' is not a batch evaluation ({error}); pass the eval.json a --batch run wrote") from None
    return MethodResults(label, rows, dict(payload.get("failures", {})))


def mean_seconds(rows: list[dict]) -> dict:
    """Mean wall time per asset over the rows that recorded one, with their count."""
    timed = [r["seconds"] for r in rows if r.get("seconds") is not None]
    return {"value": sum(timed) / len(timed) if timed else None, "n": len(timed)}


def method_totals(method: MethodResults) -> dict:
    """One method over all its assets, both splits: the pass rate (failed runs fail), the feature
    rates over its mug and chair assets, mean normal consistency and F@0.05, and time per asset."""
    rows = list(method.rows.values())
    assets = len(rows) + len(method.failures)
    features = feature_rates(rows)
    return {"assets": assets, "pass_rate": sum(bool(r["passed"]) for r in rows) / assets if assets else None,
            "featured": features["n"], "janus": features["janus"], "missing": features["missing"],
            "oriented": features["oriented"], "normal_consistency": mean(rows, "normal_consistency"),
            "fscore": mean(rows, "fscore"), "seconds": mean_seconds(rows)}


def split_summary(method: MethodResults, prompts: list[str]) -> dict:
    """Pass, shape and colour rates and mean Chamfer over ``prompts`` (missing runs fail)."""
    rows = [method.rows.get(p) for p in prompts]
    done = [r for r in rows if r is not None]
    n = len(prompts)
    return {
        "n": n,
        "pass_rate": sum(bool(r and r["passed"]) for r in rows) / n if n else None,
        "shape_accuracy": sum(bool(r and r["shape_correct"]) for r in rows) / n if n else None,
        "colour_accuracy": sum(bool(r and r["colour_correct"]) for r in rows) / n if n else None,
        "mean_chamfer": sum(r["chamfer"] for r in done) / len(done) if done else None,
        "failed_runs": n - len(done),
        "mean_seconds": mean_seconds(done),
        **surface_means(done), "features": feature_rates(done),
    }


def compare(methods: list[MethodResults]) -> tuple[str, dict]:
    """Markdown table (one column group per method) and a JSON-able summary."""
    if len(methods) < 2:
        raise EvalError("--compare needs at least two eval.json files")
    prompts: dict[str, bool] = {}
    for method in methods:
        for prompt, row in method.rows.items():
            prompts.setdefault(prompt, bool(row["held_out"]))
        for prompt in method.failures:
            prompts.setdefault(prompt, False)
    ordered = sorted(prompts, key=lambda p: (prompts[p], p))
    header = "| prompt | split | " + " | ".join(
        f"{m.label} shape | {m.label} colour | {m.label} chamfer | {m.label} pass" for m in methods) + " |"
    lines = [header, "|" + "---|" * (2 + 4 * len(methods))]
    for prompt in ordered:
        cells = " | ".join(result_cells(m.rows.get(prompt)) for m in methods)
        lines.append(f"| {prompt} | {'held-out' if prompts[prompt] else 'seen'} | {cells} |")
    lines.append("")
    summary: dict = {}
    for split, held_out in (("seen", False), ("held_out", True)):
        split_prompts = [p for p in ordered if prompts[p] == held_out]
        if not split_prompts:
            continue
        summary[split] = {m.label: split_summary(m, split_prompts) for m in methods}
        for m in methods:
            s = summary[split][m.label]
            chamfer = "n/a" if s["mean_chamfer"] is None else f"{s['mean_chamfer']:.3f}"
            line = (f"- {split}, {m.label}: {s['pass_rate']:.0%} pass ({s['n']} prompts; shape "
                    f"{s['shape_accuracy']:.0%}, colour {s['colour_accuracy']:.0%}, mean Chamfer {chamfer})")
            if s["mean_chamfer_l1"] is not None:  # rows from before the surface metrics have none
                line += f"; {surface_text(s)}"
            if s["features"]["n"]:
                line += f"; mugs and chairs: {feature_text(s['features'])}"
            if s["mean_seconds"]["n"]:
                line += f"; {s['mean_seconds']['value']:.0f} s per asset ({s['mean_seconds']['n']} timed)"
            lines.append(line)
    summary["methods"] = {m.label: method_totals(m) for m in methods}
    lines += ["", "| method | assets | pass | Janus | missing | oriented | NC | F@0.05 | s per asset |",
              "|---|---|---|---|---|---|---|---|---|"]
    for m in methods:
        t = summary["methods"][m.label]
        seconds = "-" if t["seconds"]["value"] is None else f"{t['seconds']['value']:.0f}"
        lines.append(f"| {m.label} | {t['assets']} | {share(t['pass_rate'], t['assets'])} | {share(t['janus'], t['featured'])} | "
                     f"{share(t['missing'], t['featured'])} | {share(t['oriented'], t['featured'])} | "
                     f"{number(t['normal_consistency'], 2)} | {number(t['fscore'], 2)} | {seconds} |")
    lines.append("")
    summary["janus"] = {m.label: janus_summary(list(m.rows.values())) for m in methods}
    for m in methods:
        j = summary["janus"][m.label]
        if j["n"]:
            lines.append(f"- mug and chair prompts, {m.label}: {janus_text(j)}")
    return "\n".join(lines) + "\n", summary
