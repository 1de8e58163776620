"""``RESULTS.md`` from ``results.json``: one results table, then the details behind it."""
from __future__ import annotations

from suite import fmt
from suite.end_to_end import SECTIONS
from suite.methods import METHODS
from suite.published import PUBLISHED
from suite.sd_scale import PARTS
from suite.store import preferred_entry

DASH = fmt.DASH


CONTENDED = 0.10
"""Share of the CPU used by other processes above which an entry is flagged."""


def _label(entry: dict) -> str:
    """``quick, 2026-11-24`` for an entry, plus a flag when other processes shared the CPU."""
    date = (entry.get("machine") or {}).get("date", "")
    label = f"{entry['mode']}, {date.split(' ')[0]}" if date else entry["mode"]
    others = entry.get("others_cpu_share")
    if others is not None and others > CONTENDED:
        label += f"; other processes used {fmt.share(others)} of the CPU meanwhile"
    return label


def _status(entry: dict | None) -> str:
    if entry is None:
        return "not run yet"
    if entry["status"] == "ok":
        return f"measured ({_label(entry)})"
    return f"{entry['status']}: {(entry.get('error') or '').splitlines()[0][:120] if entry.get('error') else ''}".rstrip(": ")


def _pass(entry: dict | None, split: str) -> str:
    if entry is None or entry["status"] != "ok":
        return DASH
    s = entry["result"]["summary"].get(split) or {}
    if not s.get("n"):
        return DASH
    partial = "" if entry["result"].get("complete", True) else ", partial"
    return f"{fmt.share(s['pass_rate'])} of {s['n']}" + (f" (quick{partial})" if entry["mode"] == "quick" else f" (full{partial})" if partial else "")


def results_table(results: dict) -> list[str]:
    """The one table: every method measured here, then peers' published figures."""
    lines = ["| method | status | prompt → GLB | steps | steps/s | peak RSS | " + " | ".join(SECTIONS) + " | other "
             "| quality: seen pass | quality: held-out pass |", "|---" * (9 + len(SECTIONS)) + "|"]
    for method in METHODS:
        entry = preferred_entry(results, f"end_to_end/{method}")
        quality = preferred_entry(results, f"quality/{method}") if method != "texture" else None
        q_seen = "n/a (geometry is given)" if method == "texture" else _pass(quality, "seen")
        q_held = "n/a" if method == "texture" else _pass(quality, "held_out")
        if entry is None or entry["status"] != "ok":
            lines.append(f"| {method} | {_status(entry)} | " + " | ".join([DASH] * (5 + len(SECTIONS))) + f" | {q_seen} | {q_held} |")
            continue
        r = entry["result"]
        shares = r["breakdown"]["shares"]
        cells = [fmt.seconds(r["prompt_to_glb_seconds"]), str(r["steps"]), fmt.number(r["steps_per_second"]),
                 fmt.megabytes(r["peak_rss_mb"])]
        cells += [fmt.share(shares.get(name)) for name in SECTIONS]
        cells.append(fmt.share(sum(v for k, v in shares.items() if k not in SECTIONS)))
        lines.append(f"| {method} | {_status(entry)} | " + " | ".join(cells) + f" | {q_seen} | {q_held} |")
    for peer in PUBLISHED:
        lines.append(f"| {peer['method']} | published, not measured here | {peer['time']}, {peer['hardware']} | "
                     + " | ".join([DASH] * (4 + len(SECTIONS))) + f" | {DASH} | {DASH} |")
    return lines


def phases_table(results: dict) -> list[str]:
    lines = ["| method | run | startup (python, imports) | load (prior, text, scene) | train | video | export | total | CPU time | peak RSS |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for method in METHODS:
        entry = preferred_entry(results, f"end_to_end/{method}")
        if entry is None or entry["status"] != "ok":
            continue
        r = entry["result"]
        extra = [o for o in r.get("overrides", []) if o.startswith(("trainer.max_steps", "system.texture_steps", "system.refine_steps"))]
        run = f"{_label(entry)}, {r['steps']} steps" + (f" ({', '.join(extra)})" if extra else " (config defaults)")
        phases = [fmt.seconds(v) for v in r["phases_seconds"].values()]
        lines.append(f"| {method} | {run} | " + " | ".join(phases) + f" | {fmt.seconds(r['prompt_to_glb_seconds'])} "
                     f"| {fmt.seconds(r.get('cpu_seconds'))} | {fmt.megabytes(r['peak_rss_mb'])} |")
    return lines if len(lines) > 2 else ["No end-to-end run yet."]


def breakdown_table(results: dict) -> list[str]:
    names: list[str] = []
    rows = []
    for method in METHODS:
        entry = preferred_entry(results, f"end_to_end/{method}")
        if entry is None or entry["status"] != "ok":
            continue
        b = entry["result"]["breakdown"]
        names += [k for k in b["seconds"] if k not in names]
        rows.append((method, b))
    if not rows:
        return ["No end-to-end run yet."]
    lines = ["| method | mean step | " + " | ".join(names) + " |", "|---" * (2 + len(names)) + "|"]
    for method, b in rows:
        cells = [f"{fmt.seconds(b['seconds'][n])} ({fmt.share(b['shares'][n])})" if n in b["seconds"] else DASH for n in names]
        lines.append(f"| {method} | {fmt.seconds(b['step_seconds'])} | " + " | ".join(cells) + " |")
    return lines


def full_quality_estimate(results: dict, method: str) -> str:
    """How long the full 36-prompt evaluation of ``method`` should take, from its full end-to-end run."""
    from suite.quality import prompts_for

    entry = results.get("benchmarks", {}).get(f"end_to_end/{method}", {}).get("full")
    if not entry or entry["status"] != "ok":
        return ""
    phases = entry["result"]["phases_seconds"]
    per_prompt = sum(v for k, v in phases.items() if not k.startswith(("startup", "video")))
    n = len(prompts_for("full"))
    return (f" Full mode ({n} prompts at the config's step count) takes about {fmt.seconds(n * per_prompt)} here: "
            f"{n} × {fmt.seconds(per_prompt)} (load + train + export of the full end-to-end run).")


def quality_section(results: dict) -> list[str]:
    lines = []
    for method in ("dreamfusion", "prolificdreamer", "dreamgaussian"):
        entry = preferred_entry(results, f"quality/{method}")
        estimate = full_quality_estimate(results, method) if entry is None or entry["mode"] != "full" else ""
        if entry is None or entry["status"] != "ok":
            lines.append(f"- **{method}**: {_status(entry)}.{estimate}")
            continue
        r = entry["result"]
        partial = "" if r.get("complete", True) else f" (partial: stopped by its time budget after {r['prompts']} of {r['prompts_planned']})"
        lines.append(f"**{method}** ({_label(entry)}; {r['prompts']} prompts{partial}, seed {r['seed']}, "
                     f"{fmt.seconds(r['seconds'])} in all, {fmt.seconds(r['seconds_per_prompt'])} per prompt; "
                     f"overrides: `{' '.join(r['overrides'])}`)")
        lines += ["", "| split | prompts | pass | shape right | colour right | mean Chamfer |", "|---|---|---|---|---|---|"]
        for split in ("seen", "held_out"):
            s = r["summary"].get(split) or {}
            if s.get("n"):
                lines.append(f"| {split.replace('_', '-')} | {s['n']} | {fmt.share(s['pass_rate'])} | {fmt.share(s['shape_accuracy'])} "
                             f"| {fmt.share(s['colour_accuracy'])} | {s['mean_chamfer']:.3f} |")
        if r["failures"]:
            lines.append(f"| failed runs | {len(r['failures'])} | | | | |")
        lines += ["", "<details><summary>per prompt</summary>", "", "| prompt | split | shape | colour | Chamfer | pass |",
                  "|---|---|---|---|---|---|"]
        for row in sorted(r["results"], key=lambda x: (x["held_out"], x["prompt"])):
            lines.append(f"| {row['prompt']} | {'held-out' if row['held_out'] else 'seen'} | {row['predicted_shape']} "
                         f"| {row['predicted_colour']} | {row['chamfer']:.3f} | {'yes' if row['passed'] else 'no'} |")
        for prompt, error in r["failures"].items():
            lines.append(f"| {prompt} | | run failed: {error} | | | no |")
        lines += ["", "</details>", ""]
        if estimate:
            lines += [estimate.strip(), ""]
    return lines


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}×" if ratio >= 100 else f"{ratio:.1f}×"


def throughput_table(results: dict) -> list[str]:
    lines = ["| fallback | problem | fast path | naive reference | speed-up | run |", "|---|---|---|---|---|---|"]
    problems = {
        "volume": lambda r: f"NeRF ({r.get('scene', 'initialisation')}): {r['size']}² rays × {r['n_samples']} samples, fwd+bwd; "
                            f"occupied cells {fmt.share(r['occupied_cells'])}, samples queried {fmt.share(r['queried_fraction'])}",
        "splat": lambda r: f"{r['gaussians']} Gaussians, {r['size']}² px, fwd+bwd",
        "raster": lambda r: f"{r['faces']} triangles, {r['views']} × {r['size']}² px, visibility (full render {fmt.seconds(r['render_seconds'])})",
    }
    names = {"volume": "volume renderer (occupancy mask vs none)", "splat": "Gaussian splat (tiles vs dense)",
             "raster": "mesh rasteriser (binning vs none)"}
    for kind, problem in problems.items():
        entry = preferred_entry(results, f"throughput/{kind}")
        if entry is None or entry["status"] != "ok":
            lines.append(f"| {names[kind]} | {_status(entry)} | | | | |")
            continue
        for r in entry["result"].get("variants", [entry["result"]]):
            unit = r["unit"]
            lines.append(f"| {names[kind]} | {problem(r)} | {fmt.rate(r['rate'])} {unit} ({fmt.seconds(r['seconds'])}) "
                         f"| {fmt.rate(r['naive_rate'])} {unit} ({fmt.seconds(r['naive_seconds'])}) | {_times(r['speedup'])} "
                         f"| {_label(entry)}, {entry['result'].get('threads', '?')} threads |")
    return lines


def sd_scale_section(results: dict) -> list[str]:
    entry = preferred_entry(results, "sd_scale")
    if entry is None or entry["status"] != "ok":
        return [f"SD scale: {_status(entry)}."]
    r = entry["result"]
    lines = [f"{r['architecture']} architecture, random weights: UNet {r['unet_parameters'] / 1e6:.0f} M parameters, "
             f"VAE {r['vae_parameters'] / 1e6:.0f} M; {r['render_size']}² renders → {r['prior_image_size']}² → "
             f"{r['latent_size']}² latents; {r['threads']} threads; building the models took {fmt.seconds(r['build_seconds'])}; "
             f"peak RSS {fmt.megabytes(entry.get('case_peak_rss_mb'))} ({_label(entry)}).", "",
             "| scene | timed steps | mean step | " + " | ".join(PARTS) + " | outside the prior (goal < 10%) |",
             "|---" * (4 + len(PARTS)) + "|"]
    for scene, s in r["scenes"].items():
        cells = [f"{fmt.seconds(s['seconds'][p])} ({fmt.share(s['seconds'][p] / s['step_seconds'])})" for p in PARTS]
        warm = (f"+1 warm-up: {fmt.seconds(sum(s['first_step'].values()))}" if s.get("warm_up_excluded", True)
                else "the first step, warm-up included")
        lines.append(f"| {s['config']} `{' '.join(s['overrides'])}` | {s['timed_steps']} ({warm}) "
                     f"| {fmt.seconds(s['step_seconds'])} | " + " | ".join(cells) + f" | **{fmt.share(s['share_outside_prior'])}** |")
    lines += ["", "The `-sd` config's scene runs here with the pure-torch hash grid and 64 instead of 512 samples per "
              "ray: that fallback keeps about 3 KB of corner indices per sample point, so 512 samples at 64x64 (with the "
              "normals' extra queries) would need over 20 GB; with CUDA, tinycudann and nerfacc take this part. "
              "The CPU config's dense-grid scene at the same 64x64 shows the cost of the framework around the prior."]
    return lines


def published_table() -> list[str]:
    lines = ["| method | time per asset | hardware | source |", "|---|---|---|---|"]
    lines += [f"| {p['method']} | {p['time']} | {p['hardware']} | {p['source']} |" for p in PUBLISHED]
    return lines


def gaps(results: dict, case_names: list[str]) -> list[str]:
    """Cases with no good result, and why."""
    lines = []
    for name in case_names:
        modes = results.get("benchmarks", {}).get(name, {})
        if any(e.get("status") == "ok" for e in modes.values()):
            continue
        entry = preferred_entry(results, name)
        error_lines = [line.strip() for line in ((entry or {}).get("error") or "").splitlines() if line.strip()]
        detail = f" (last output: `{error_lines[-1][:200]}`)" if len(error_lines) > 1 else ""
        lines.append(f"- `{name}`: {_status(entry)}{detail}")
    return lines
