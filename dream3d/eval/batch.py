"""Generate and evaluate a list of prompts; a table with seen and held-out pairs apart."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from dream3d.atomic import write_text
from dream3d.eval.evaluate import EvalError, EvalResult, evaluate_run


@dataclass
class BatchReport:
    """Per-prompt results and failures of a batch."""

    results: list[EvalResult] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False
    """A run was interrupted (Ctrl-C / SIGTERM); the prompts after it were not started."""

    def summary(self) -> dict:
        def rate(rows: list[EvalResult], attr: str) -> float | None:
            return sum(getattr(r, attr) for r in rows) / len(rows) if rows else None

        out = {}
        for name, rows in (("seen", [r for r in self.results if not r.held_out]), ("held_out", [r for r in self.results if r.held_out])):
            out[name] = {
                "n": len(rows), "pass_rate": rate(rows, "passed"), "shape_accuracy": rate(rows, "shape_correct"),
                "colour_accuracy": rate(rows, "colour_correct"),
                "mean_chamfer": sum(r.chamfer for r in rows) / len(rows) if rows else None,
            }
        out["failed_runs"] = len(self.failures)
        return out

    def markdown(self) -> str:
        lines = ["| prompt | split | shape | colour | chamfer | pass |", "|---|---|---|---|---|---|"]
        for r in sorted(self.results, key=lambda r: (r.held_out, r.prompt)):
            lines.append(f"| {r.prompt} | {'held-out' if r.held_out else 'seen'} | {result_cells(r.to_dict())} |")
        for prompt, error in self.failures.items():
            lines.append(f"| {prompt} | - | run failed: {error} | | | no |")
        lines.append("")
        for split, s in self.summary().items():
            if isinstance(s, dict) and s["n"]:
                lines.append(
                    f"- {split}: {s['pass_rate']:.0%} pass ({s['n']} prompts; shape {s['shape_accuracy']:.0%}, "
                    f"colour {s['colour_accuracy']:.0%}, mean Chamfer {s['mean_chamfer']:.3f})"
                )
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


def read_prompts(path: Path) -> list[str]:
    prompts = [line.strip() for line in path.read_text().splitlines()]
    return [p for p in prompts if p and not p.startswith("#")]


def run_batch(prompts: list[str], config: str, overrides: list[str], out_dir: Path) -> BatchReport:
    """Train each prompt with ``config`` (through the training service), then evaluate it.

    An interrupted run (it checkpoints and exits 130) stops the batch; running it again
    skips the prompts that already have a GLB."""
    from dream3d.exit_codes import EXIT_INTERRUPTED
    from dream3d.methods import load_config
    from dream3d.naming import slugify
    from dream3d.service import guarded, train

    report = BatchReport()
    for prompt in prompts:
        run_dir = out_dir / slugify(prompt)
        code = 0
        if not (run_dir / "mesh" / "model.glb").is_file():
            code = guarded(lambda: train(load_config(config, overrides, {"system": {"prompt": prompt}}), run_dir))
        if code == EXIT_INTERRUPTED:
            report.interrupted = True
            break
        if code != 0:
            report.failures[prompt] = f"launch exited with code {code}"
            continue
        try:
            report.results.append(evaluate_run(run_dir, prompt))
        except EvalError as error:
            report.failures[prompt] = str(error)
        report.write(out_dir)
    report.write(out_dir)
    return report
