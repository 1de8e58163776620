"""Generate and evaluate a list of prompts; a table with seen and held-out pairs apart, every
rate with the number of assets it is over, and the Janus rate over the mug and chair prompts."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from dream3d.atomic import write_text
from dream3d.eval.evaluate import EvalError, EvalResult, evaluate_run
from dream3d.eval.summary import feature_rates, feature_text, janus_summary, janus_text, share, surface_means, surface_text


@dataclass
class BatchReport:
    """Per-prompt results and failures of a batch."""

    results: list[EvalResult] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False
    """A run was interrupted (Ctrl-C / SIGTERM); the prompts after it were not started."""

    def summary(self) -> dict:
        """Per split (seen, held-out): rates with their ``n``, mean Chamfer, the surface metrics
        (``summary.surface_means``) and the feature rates of its mug and chair prompts; then the
        Janus rate over every mug and chair prompt (``"janus"``) and the failed runs."""
        def rate(rows: list[EvalResult], attr: str) -> float | None:
            return sum(getattr(r, attr) for r in rows) / len(rows) if rows else None

        out = {}
        for name, rows in (("seen", [r for r in self.results if not r.held_out]), ("held_out", [r for r in self.results if r.held_out])):
            dicts = [r.to_dict() for r in rows]
            out[name] = {
                "n": len(rows), "pass_rate": rate(rows, "passed"), "shape_accuracy": rate(rows, "shape_correct"),
                "colour_accuracy": rate(rows, "colour_correct"),
                "mean_chamfer": sum(r.chamfer for r in rows) / len(rows) if rows else None,
                **surface_means(dicts), "features": feature_rates(dicts),
            }
        out["janus"] = janus_summary([r.to_dict() for r in self.results])
        out["failed_runs"] = len(self.failures)
        return out

    def markdown(self) -> str:
        seeded = any(r.seed is not None for r in self.results)
        lines = ["| prompt | " + ("seed | " if seeded else "") + "split | shape | colour | chamfer | pass | "
                 + " | ".join(SURFACE_COLUMNS) + " |", "|---" * (6 + seeded + len(SURFACE_COLUMNS)) + "|"]
        for r in sorted(self.results, key=lambda r: (r.held_out, r.prompt, r.seed or 0)):
            row = r.to_dict()
            seed = f"{r.seed} | " if seeded else ""
            lines.append(f"| {r.prompt} | {seed}{'held-out' if r.held_out else 'seen'} | {result_cells(row)} | {surface_cells(row)} |")
        for prompt, error in self.failures.items():
            lines.append(f"| {prompt} | {'- | ' if seeded else ''}- | run failed: {error} | | | no | {surface_cells(None)} |")
        lines.append("")
        summary = self.summary()
        for split in ("seen", "held_out"):
            s = summary[split]
            if not s["n"]:
                continue
            unit = "run" if seeded else "prompt"
            line = (f"- {split.replace('_', '-')} ({s['n']} {unit}{'' if s['n'] == 1 else 's'}): pass {share(s['pass_rate'], s['n'])}, "
                    f"shape {share(s['shape_accuracy'], s['n'])}, colour {share(s['colour_accuracy'], s['n'])}, "
                    f"mean Chamfer {s['mean_chamfer']:.3f}; {surface_text(s)}")
            if s["features"]["n"]:
                line += f"; mugs and chairs: {feature_text(s['features'])}"
            lines.append(line)
        if summary["janus"]["n"]:
            lines.append(f"- mug and chair prompts, both splits: {janus_text(summary['janus'])}")
        if self.failures:
            lines.append(f"- failed runs: {len(self.failures)}")
        return "\n".join(lines) + "\n"

    def write(self, directory: Path) -> None:
        payload = {"summary": self.summary(), "results": [r.to_dict() for r in self.results], "failures": self.failures}
        write_text(directory / "eval.json", json.dumps(payload, indent=2))
        write_text(directory / "eval.md", self.markdown())


def result_cells(row: dict | None) -> str:
    """``shape | colour | chamfer | pass`` table cells of one result (``EvalResult.to_dict()``);
    wrong predictions are marked with a cross, a missing result is all dashes."""
    if row is None:
        return "- | - | - | no"
    shape = row["predicted_shape"] + ("" if row["shape_correct"] else " ✗")
    colour = row["predicted_colour"] + ("" if row["colour_correct"] else " ✗")
    return f"{shape} | {colour} | {row['chamfer']:.3f} | {'yes' if row['passed'] else 'no'}"


SURFACE_COLUMNS = ("Chamfer-L1", "NC", "F@0.05", "genus (true)", "feature", "flags")
"""Surface, topology and feature columns of the per-prompt table (after ``result_cells``')."""


def surface_cells(row: dict | None) -> str:
    """:data:`SURFACE_COLUMNS` cells of one result: the surface metrics, the genus against the
    truth (✗ when wrong, "open" when the mesh is not closed), and for a mug or a chair the
    feature count and its flags (Janus, missing, oriented or wrong side); dashes where a
    value is absent (a failed run, a shape without a feature, an older eval.json)."""
    if row is None or row.get("chamfer_l1") is None:
        return " | ".join(["-"] * len(SURFACE_COLUMNS))
    genus = f"{row['genus']}{'' if row['genus_correct'] else ' ✗'} ({row['true_genus']})"
    genus += "" if row["watertight"] else ", open"
    feature, flags = "-", "-"
    if row.get("feature_count") is not None:
        count = row["feature_count"]
        feature = f"{count} {row['feature']}{'' if count == 1 else 's'}"
        flags = "Janus" if row["janus"] else "missing" if row["missing"] else "oriented" if row["oriented"] else "wrong side"
    return (f"{row['chamfer_l1']:.3f} | {row['normal_consistency']:.2f} | {row['fscore']:.2f} | {genus} | "
            f"{feature} | {flags}")


def read_prompts(path: Path) -> list[str]:
    prompts = [line.strip() for line in path.read_text().splitlines()]
    return [p for p in prompts if p and not p.startswith("#")]


def run_seconds(run_dir: Path) -> float | None:
    """The run's wall time from its ``metrics.json`` (None without one)."""
    try:
        return float(json.loads((Path(run_dir) / "metrics.json").read_text())["wall_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_batch(prompts: list[str], config: str, overrides: list[str], out_dir: Path,
              seeds: tuple[int, ...] | None = None) -> BatchReport:
    """Train each prompt with ``config`` (through the training service), then evaluate it;
    with ``seeds``, once per seed (``out_dir/seed{N}/<prompt>``, the config's ``seed`` set), and
    every rate is then over prompts x seeds.

    An interrupted run (it checkpoints and exits 130) stops the batch; running it again
    skips the prompts that already have a GLB."""
    from dream3d.exit_codes import EXIT_INTERRUPTED
    from dream3d.methods import load_config
    from dream3d.naming import slugify
    from dream3d.service import guarded, train

    report = BatchReport()
    jobs = [(prompt, None) for prompt in prompts] if seeds is None else [(p, s) for s in seeds for p in prompts]
    for prompt, seed in jobs:
        run_dir = out_dir / slugify(prompt) if seed is None else out_dir / f"seed{seed}" / slugify(prompt)
        extra = {"system": {"prompt": prompt}} | ({} if seed is None else {"seed": seed})
        label = prompt if seed is None else f"{prompt} (seed {seed})"
        code = 0
        if not (run_dir / "mesh" / "model.glb").is_file():
            code = guarded(lambda: train(load_config(config, overrides, extra), run_dir,
                                         overwrite=True))  # an unfinished earlier attempt starts afresh
        if code == EXIT_INTERRUPTED:
            report.interrupted = True
            break
        if code != 0:
            report.failures[label] = f"launch exited with code {code}"
            continue
        try:
            result = evaluate_run(run_dir, prompt)
            result.seed = seed
            result.seconds = run_seconds(run_dir)
            report.results.append(result)
        except EvalError as error:
            report.failures[label] = str(error)
        report.write(out_dir)
    report.write(out_dir)
    return report
