#!/usr/bin/env python
"""Prompt -> GLB before and after each speed change, side by side in one run.

    python benchmarks/bench_speed.py --method dreamfusion --variant "before=REV" \\
        --variant "normals=REV2" --variant "fewer steps=HEAD:trainer.max_steps=500" \\
        [--repeats 1] [--output benchmarks/dreamfusion-speed.json]

A variant is ``label=REV[:override,override...]``: ``launch.py`` of the git revision ``REV``
(checked out into a temporary worktree; ``WORKTREE`` is the files as they are now) with
those dotted overrides, on ``configs/<method>.yaml`` and the prompt "a red cube". Variants
run one after the other, interleaved when ``--repeats`` > 1, each in its own process on the
same idle machine, so they share its load. The table gives each run's wall time and its
parts (start-up, training, video, export) from ``metrics.json``; the markdown goes next to
the JSON. "CPU user" and "CPU system" are the run's processor time in user and kernel mode
(``getrusage`` of the child).

With ``--image`` (for the image-to-3D configs) the input is the true render of the prompt's
object from elevation 15 and azimuth 0 (``dream3d.eval.image_batch.true_image``, the image
batch's input), passed as ``--image FILE --elevation 15 system.image.fill=0``: framed as the
batch frames it, by the true camera.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # dream3d, for --image's input; the runs themselves import their own revision's
PROMPT = "a red cube"
IMAGE_ELEVATION = 15.0


@dataclass
class Variant:
    label: str
    revision: str
    overrides: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Variant:
        label, _, rest = text.partition("=")
        revision, _, overrides = rest.partition(":")
        if not label or not revision:
            raise SystemExit(f"bench_speed: a variant is label=REV[:overrides], got {text!r}")
        return cls(label, revision, [o for o in overrides.split(",") if o])


def checkout(revision: str, into: Path) -> Path:
    """The repository at ``revision`` (``WORKTREE``: this checkout itself)."""
    if revision == "WORKTREE":
        return REPO
    path = into / revision.replace("/", "_")
    if not path.is_dir():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-f", str(path), revision],
                       check=True, capture_output=True)
        prior = REPO / "extern" / "priors"
        for folder in prior.iterdir():  # untracked priors (a prior being trained) are linked in
            target = path / "extern" / "priors" / folder.name
            if not target.exists():
                target.symlink_to(folder.resolve())
    return path


def write_true_image(path: Path) -> Path:
    """The image batch's input for ``PROMPT``: its object's true RGBA render."""
    import imageio.v2 as imageio

    from dream3d.eval.image_batch import true_image
    from dream3d.prior.catalog import parse_prompt

    pair = parse_prompt(PROMPT)
    imageio.imwrite(path, true_image(pair.colour, pair.shape, IMAGE_ELEVATION))
    return path


def run_once(variant: Variant, tree: Path, method: str, out: Path, threads: int, image: Path | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS=str(threads))
    source, framing = ((["--image", str(image), "--elevation", str(IMAGE_ELEVATION)], ["system.image.fill=0"])
                       if image is not None else ([], []))
    argv = [sys.executable, "launch.py", "--config", f"configs/{method}.yaml", "--prompt", PROMPT, *source,
            "--output-dir", str(out), *framing, *variant.overrides]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"bench_speed: {variant.label} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    train, video, export = metrics["train_seconds"], metrics.get("video_seconds", 0.0), metrics.get("export_seconds", 0.0)
    return {"wall": wall, "train": train, "video": video, "export": export,
            "startup": max(wall - train - video - export, 0.0), "steps": metrics["steps"],
            "steps_per_second": metrics["steps_per_second"], "cpu_user": after.ru_utime - usage.ru_utime,
            "cpu_system": after.ru_stime - usage.ru_stime}


def markdown(method: str, variants: list[Variant], results: dict[str, list[dict]], threads: int,
             image: bool = False) -> str:
    source = f'the true render of "{PROMPT}" (elevation {IMAGE_ELEVATION:g})' if image else f'"{PROMPT}"'
    rows = [f"# Prompt -> GLB with configs/{method}.yaml, before and after each change",
            "", f"`python benchmarks/bench_speed.py --method {method}{' --image' if image else ''} ...`: {source}, "
            f"{threads} threads, each variant in its own process, run one after the other in one run (medians over repeats).", "",
            "| variant | revision | overrides | prompt -> GLB | start-up | training | steps | steps/s | video | export | CPU user | CPU system |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for v in variants:
        runs = results[v.label]
        # results without CPU times (older tables' JSON, the tests' stand-in runs) get dashes there
        med = {key: statistics.median(r.get(key, float("nan")) for r in runs) for key in runs[0]}
        cpu = (f"{med['cpu_user']:.1f} s | {med['cpu_system']:.1f} s" if "cpu_user" in med else "- | -")
        rows.append(f"| {v.label} | {v.revision} | {' '.join(v.overrides) or '-'} | {med['wall']:.1f} s | "
                    f"{med['startup']:.1f} s | {med['train']:.1f} s | {med['steps']:.0f} | {med['steps_per_second']:.2f} | "
                    f"{med['video']:.1f} s | {med['export']:.1f} s | {cpu} |")
    base = variants[0].label
    for v in variants[1:]:  # the host's speed drifts; a run against the run just before it drifts less
        ratios = [r["wall"] / b["wall"] for r, b in zip(results[v.label], results[base])]
        rows.append(f"\n{v.label} / {base}, repeat by repeat: {', '.join(f'{x:.2f}' for x in ratios)} "
                    f"(median {statistics.median(ratios):.2f}).")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="dreamfusion")
    parser.add_argument("--variant", action="append", required=True, type=Variant.parse)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--image", action="store_true", help="image to 3D: the input is the prompt's true render")
    args = parser.parse_args(argv)
    output = args.output or REPO / "benchmarks" / f"{args.method}-speed.json"
    results: dict[str, list[dict]] = {v.label: [] for v in args.variant}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-speed-") as scratch_dir:
            scratch = Path(scratch_dir)
            trees = {v.revision: checkout(v.revision, scratch) for v in args.variant}
            image = write_true_image(scratch / "input.png") if args.image else None
            for repeat in range(args.repeats):
                for index, variant in enumerate(args.variant):
                    result = run_once(variant, trees[variant.revision], args.method,
                                      scratch / f"out-{repeat}-{index}", args.threads, image)
                    results[variant.label].append(result)
                    print(f"{variant.label}: {result['wall']:.1f} s", flush=True)
    finally:  # the worktrees' folders are gone now, so git can forget them
        subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], capture_output=True)
    output.write_text(json.dumps({"method": args.method, "threads": args.threads, "prompt": PROMPT, "image": args.image,
                                  "variants": [v.__dict__ for v in args.variant], "results": results}, indent=1))
    output.with_suffix(".md").write_text(markdown(args.method, args.variant, results, args.threads, args.image))
    print(output.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
