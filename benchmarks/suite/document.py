"""The text of ``RESULTS.md``: the machine, the results table and every section behind it."""
from __future__ import annotations

from pathlib import Path

from suite import fmt, report
from suite.store import preferred_entry

BENCH = Path(__file__).resolve().parent.parent

INTRO = """# dream3d benchmarks

Speed, memory and quality of every method on a CPU, with the bundled prior
(`extern/priors/dream3d-shapes-v2`), written by `python benchmarks/run.py` (do not edit by hand).
Every figure below was measured on the machine in the next table unless it is marked
"published, not measured here". Each entry records its own mode (`quick` or `full`) and
date: a `--quick` run or a `--only NAME` run replaces only the entries it measured."""

NOTES = """## How to read this

- **prompt → GLB** is the wall time of `python launch.py --config configs/<method>.yaml --prompt "a red cube"`
  in a child process: Python start-up and imports, loading the prior, encoding the prompt (cold
  embedding cache), training, the turntable video and the mesh export (OBJ + GLB). **peak RSS**
  is that child's peak resident memory (`wait4`). Full mode uses each config's own step count;
  `--quick` uses fewer steps (listed in the phase table).
- **Step breakdown** shares come from the trainer's section timers (`metrics.json`):
  *render* is the renderer's forward pass, *prior* the guidance forward (resize, VAE encode,
  UNet with classifier-free guidance; VSD adds its LoRA's passes), *backward* the whole
  backward pass (through the VAE encoder and the renderer), *optimizer* the Adam steps,
  *upkeep* occupancy-grid updates or densification; *other* is what no timer covers (camera
  sampling, NaN checks, previews, checkpoints) plus any mid-run mesh extraction.
- **Quality** is the ground-truth evaluation of `dream3d.eval` (shape by Chamfer matching
  against the six primitives, colour by hue; pass = both right) over the catalogue's 36
  colour-shape prompts, 30 seen in training and 6 held out, at seed 0. `--quick` uses 6
  prompts (4 seen, 2 held out) and fewer steps; its figures are marked "(quick)".
- **Fallback throughput** puts each pure-torch fallback next to its naive reference in the
  same run; the speed-up is naive time / fast time for the same work.
- **Shared machine**: each case records how much CPU other processes used while it ran
  (from `/proc/stat`, minus the case's own CPU time); above 10% its label says so, and its
  wall times are upper bounds. *CPU time* (user + system, all threads) is less affected.
- **SD scale** times SDS steps with Stable Diffusion 2.1-base's UNet and VAE built from their
  configs with random weights (nothing is downloaded), at the `-sd` configs' sizes, on this CPU."""

REPRODUCE = """## Reproduce

```bash
python benchmarks/run.py --quick                 # reduced sizes and steps (target: 10 min on 2 idle cores; the quick
                                                 # entries below took 12 min in all on a machine shared with other jobs)
python benchmarks/run.py                         # full mode (hours: see the case times below)
python benchmarks/run.py --only end_to_end/dreamfusion --only throughput   # some cases; the rest is kept
python benchmarks/run.py --list                  # the case names
```"""


def machine_table(machine: dict) -> list[str]:
    keys = [("cpu", "CPU"), ("vector_extensions", "vector extensions"), ("cores", "cores"), ("torch_threads", "torch threads"), ("memory_gb", "memory (GiB)"),
            ("os", "OS"), ("python", "Python"), ("torch", "torch"), ("diffusers", "diffusers"), ("date", "last run")]
    return ["| | |", "|---|---|"] + [f"| {label} | {machine.get(key, fmt.DASH)} |" for key, label in keys]


def case_times(results: dict, case_names: list[str]) -> list[str]:
    lines = ["| case | mode | status | case time | CPU time | CPU used by other processes | peak RSS | date |",
             "|---|---|---|---|---|---|---|---|"]
    for name in case_names:
        for mode, entry in sorted(results.get("benchmarks", {}).get(name, {}).items()):
            lines.append(f"| `{name}` | {mode} | {entry['status']} | {fmt.seconds(entry.get('case_seconds'))} "
                         f"| {fmt.seconds(entry.get('case_cpu_seconds'))} | {fmt.share(entry.get('others_cpu_share'))} "
                         f"| {fmt.megabytes(entry.get('case_peak_rss_mb'))} | {(entry.get('machine') or {}).get('date', '')} |")
    return lines


def other_machines(results: dict, case_names: list[str]) -> list[str]:
    """A warning when entries were measured on a CPU other than the latest run's."""
    cpu = results.get("machine", {}).get("cpu")
    others = sorted({name for name in case_names
                     if (e := preferred_entry(results, name)) and (e.get("machine") or {}).get("cpu") not in (None, cpu)})
    return [f"Measured on another CPU (see results.json): {', '.join(others)}.", ""] if others else []


def speed_changes(bench: Path = BENCH) -> list[str]:
    """The before/after tables of ``bench_speed.py`` (``*-speed.md``), each under its own heading."""
    lines: list[str] = []
    for path in sorted(bench.glob("*-speed*.md")):
        text = path.read_text().strip().splitlines()
        title = text[0].lstrip("# ").strip() if text and text[0].startswith("#") else path.stem
        lines += [f"### {title}", "", f"From `{path.name}`.", "", *text[1:], ""]
    return lines or ["No before/after measurement yet (`python benchmarks/bench_speed.py`)."]


def render_markdown(results: dict, case_names: list[str]) -> str:
    """The whole of ``RESULTS.md``."""
    parts: list[str] = [INTRO, "", "## Machine", "", *machine_table(results.get("machine", {})), "",
                        *other_machines(results, case_names),
                        "## Results", "", *report.results_table(results), "",
                        "Rows marked \"published, not measured here\" are peers' own figures on their hardware, "
                        "with Stable Diffusion-class priors at 64-512 px: they are not comparable run for run with "
                        "the bundled prior on a CPU; sources are listed under *Published figures*.", "",
                        NOTES, "",
                        "## Prompt to GLB, by phase", "", *report.phases_table(results), "",
                        "## Speed changes, before and after", "", *speed_changes(), "",
                        "## Step-time breakdown", "", "Seconds per step and share of the mean training step.", "",
                        *report.breakdown_table(results), "",
                        "## Quality (ground truth)", "", *report.quality_section(results), "",
                        "## Fallback throughput", "", *report.throughput_table(results), "",
                        "## Stable Diffusion scale (CPU)", "", *report.sd_scale_section(results), "",
                        "## Published figures (not measured here)", "", *report.published_table(), ""]
    missing = report.gaps(results, case_names)
    if missing:
        parts += ["## Not measured", "", *missing, ""]
    parts += [REPRODUCE, "", "### Case times", "", *case_times(results, case_names), ""]
    return "\n".join(parts)
