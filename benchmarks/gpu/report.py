"""The GPU check's report: ``GPU.md`` for people, ``gpu.json`` for tools."""
from __future__ import annotations

import json
from pathlib import Path

TARGETS = {
    "dreamgaussian-sd": ("prompt to GLB", 60.0),
    "dreamfusion-sd": ("10k steps", 600.0),
}
"""Issue targets on the H200: seconds for the whole job."""
MEMORY_TARGET_MB = 24 * 1024
"""Default settings must fit a 24 GB consumer GPU."""


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


def _crosscheck_lines(checks: dict[str, dict]) -> list[str]:
    lines = ["## CUDA paths against their torch fallbacks", "",
             "| check | status | output | max abs | mean abs | tolerance (max / mean) | why |",
             "|---|---|---|---|---|---|---|"]
    for name, check in checks.items():
        if not check["differences"]:
            lines.append(f"| {name} | {check['status']} | - | - | - | - | {check.get('reason', '')} |")
        for row in check["differences"]:
            tol = row["tolerance"]
            scale = " x max abs ref" if tol["relative"] else ""
            verdict = "ok" if row["passed"] else "**over**"
            lines.append(f"| {name} | {check['status']} | {row['name']} | {_fmt(row['max_abs'])} | "
                         f"{_fmt(row['mean_abs'])} | {tol['max_abs']:g} / {tol['mean_abs']:g}{scale} ({verdict}) | {tol['why']} |")
    lines += ["", "Seconds per backend (the first CUDA call includes its JIT build):", ""]
    for name, check in checks.items():
        seconds = ", ".join(f"{k} {v:.3g}" for k, v in check.get("seconds", {}).items())
        lines.append(f"- {name}: {seconds or '-'}{'; ' + check['note'] if check.get('note') else ''}")
    return lines


def _runs_lines(title: str, about: str, runs: list[dict], groups: dict[str, dict]) -> list[str]:
    lines = [f"## {title}", "", about, "",
             "| run | status | steps timed | steps/s | setup s | export s | peak GPU MB | job s (prompt to GLB) |",
             "|---|---|---|---|---|---|---|---|"]
    for run in runs:
        if run["status"] != "ok":
            lines.append(f"| {run['label']} | failed: {run.get('error', '')[:120]} | - | - | - | - | - | - |")
            continue
        job = _fmt(run["job_seconds"]) + (" (extrapolated)" if run["job_is_extrapolated"] else "")
        lines.append(f"| {run['label']} | ok | {run['window']} of {run['full_steps']} | {_fmt(run['steps_per_second'])} | "
                     f"{_fmt(run['setup_seconds'])} | {_fmt(run['export_seconds'])} | {_fmt(run['peak_gpu_mb'], 5)} | {job} |")
    lines += ["", "Seconds per step by section:", ""]
    for run in runs:
        if run["status"] == "ok":
            parts = ", ".join(f"{k} {v:.3g}" for k, v in run["seconds_per_step_by_section"].items())
            lines.append(f"- {run['label']}: {parts}")
    multi = {name: g for name, g in groups.items() if len(g["runs"]) > 1}
    if multi:
        lines += ["", "Configs timed in parts:", ""]
        for name, group in multi.items():
            lines.append(f"- {name}: {group['status']}, job {_fmt(group['job_seconds'])} s "
                         f"({' + '.join(group['runs'])}), peak GPU {_fmt(group['peak_gpu_mb'], 5)} MB")
    return lines


def _target_lines(groups: dict[str, dict]) -> list[str]:
    lines = ["## Targets", "", "| config | target | measured | met |", "|---|---|---|---|"]
    for name, (what, limit) in TARGETS.items():
        group = groups.get(name)
        if group is None or group["status"] != "ok":
            lines.append(f"| {name} | {what} <= {limit:.0f} s | not measured | - |")
            continue
        met = "yes" if group["job_seconds"] <= limit else "no"
        lines.append(f"| {name} | {what} <= {limit:.0f} s | {group['job_seconds']:.1f} s | {met} |")
    for name, group in groups.items():
        if group.get("peak_gpu_mb") is not None:
            met = "yes" if group["peak_gpu_mb"] <= MEMORY_TARGET_MB else "no"
            lines.append(f"| {name} | peak GPU memory <= 24 GB | {group['peak_gpu_mb'] / 1024:.1f} GB | {met} |")
    return lines


def render_markdown(report: dict) -> str:
    env = report["environment"]
    lines = [f"# GPU check{' (smoke, CPU)' if report['smoke'] else ''}", "",
             f"`python benchmarks/gpu_check.py{' --smoke' if report['smoke'] else ''}` on {env['device_name']} "
             f"(torch {env['torch']}, CUDA {env['cuda']}), {report['total_seconds']:.0f} s in all.", "",
             "Packages: " + ", ".join(f"{k} {v}" for k, v in env["packages"].items()) + ".", ""]
    if report["skipped_sections"]:
        lines += ["Not run (time budget or missing parts): " + "; ".join(report["skipped_sections"]) + ".", ""]
    lines += _crosscheck_lines(report["crosschecks"]) + [""]
    if report.get("sd_scale"):
        sd = report["sd_scale"]
        about = (f"Stable Diffusion 2.1-base's architecture ({sd['parameters']}) with random weights, built from "
                 "`extern/model-configs/stable-diffusion-2-1-base`; its assets are noise, its timings are real. "
                 "Video and previews off.")
        lines += _runs_lines("Stable-Diffusion-scale configs", about, sd["runs"], sd["groups"]) + [""]
        lines += _target_lines(sd["groups"]) + [""]
    if report.get("bundled"):
        b = report["bundled"]
        lines += _runs_lines("Bundled prior on this device", "The CPU configs, whole jobs.", b["runs"], b["groups"]) + [""]
    if report.get("eval"):
        lines += ["## 12-prompt ground-truth evaluation (dreamgaussian)", "", report["eval"].get("summary", ""), ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(report: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write ``GPU.md`` and ``gpu.json`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "GPU.md", out_dir / "gpu.json"
    js.write_text(json.dumps(report, indent=2, default=str))
    md.write_text(render_markdown(report))
    return md, js
