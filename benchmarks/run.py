#!/usr/bin/env python
"""dream3d's benchmarks: speed, memory and quality of every method, in one results table.

    python benchmarks/run.py [--quick] [--only NAME ...] [--output-dir DIR]

writes ``DIR/results.json`` and ``DIR/RESULTS.md`` (default: this folder). Each case runs in
its own child process (its peak RSS is its own; a crash stops only that case). Entries of
cases that this run does not measure are kept from the previous ``results.json``; entries
are kept per mode, so ``--quick`` never replaces a full-mode figure. ``--list`` shows the
cases; ``--only smoke`` runs every code path at tiny sizes with a tiny random prior.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from suite.cases import Case, Context, all_cases, case_mode, select  # noqa: E402
from suite.child import run_child  # noqa: E402
from suite.contention import machine_busy_seconds, others_share  # noqa: E402

BUNDLED_PRIOR = REPO / "extern" / "priors" / "dream3d-shapes-v2"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes and steps; at most 10 minutes on 2 cores")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only these cases or groups (repeatable or comma-separated); see --list")
    parser.add_argument("--output-dir", type=Path, default=BENCH, help="where results.json and RESULTS.md go")
    parser.add_argument("--prior", default=None, help="the prior for training runs (default: the bundled prior)")
    parser.add_argument("--scratch", type=Path, default=None,
                        help="folder for runs and logs, kept afterwards (default: a temporary one); reusing it lets a "
                        "quality case resume, skipping prompts that already have a GLB (their time is then not counted)")
    parser.add_argument("--keep-scratch", action="store_true", help="keep the scratch folder (runs, logs) afterwards")
    parser.add_argument("--quality-budget", type=float, default=None, metavar="SECONDS",
                        help="a quality case starts no new prompt after this long and reports the prompts it covered")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--render-only", action="store_true", help="rewrite RESULTS.md from results.json; run nothing")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--emit", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.only = [name for chunk in (args.only or []) for name in chunk.split(",") if name]
    return args


def worker(args: argparse.Namespace) -> int:
    """Child side: run one case and write its result as JSON to ``--emit``."""
    case = {c.name: c for c in all_cases()}[args.worker]
    args.scratch.mkdir(parents=True, exist_ok=True)
    result = case.run(Context(args.mode, REPO, args.scratch, args.prior, args.quality_budget))
    args.emit.write_text(json.dumps(result, default=str))
    return 0


def _clean(text: str, scratch: Path) -> str:
    """Error text without this machine's paths (scratch folder, repository, Python prefix, home)."""
    for path, name in ((scratch, "<scratch>"), (REPO, "."), (Path(sys.prefix), "<python>"), (Path.home(), "~")):
        text = text.replace(str(path), name)
    return text


def run_case(case: Case, mode: str, prior: str | None, scratch: Path, machine: dict, budget: float | None = None) -> dict:
    """Parent side: check the case can run, run it in a child, and make its entry."""
    from suite.methods import not_built_reason

    entry = {"status": "ok", "mode": mode, "machine": machine, "case_seconds": None, "case_peak_rss_mb": None,
             "case_cpu_seconds": None, "others_cpu_share": None, "result": None, "error": None}
    reason = not_built_reason(case.method, REPO) if case.method else None
    if reason:
        return {**entry, "status": "not built", "error": reason}
    if case.needs_prior and prior is None:
        return {**entry, "status": "skipped",
                "error": f"the bundled prior is missing ({BUNDLED_PRIOR.relative_to(REPO)}/model_index.json)"}
    folder = scratch / case.name.replace("/", "-") / mode
    emit = folder / "result.json"
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", case.name, "--mode", mode,
            "--scratch", str(folder), "--emit", str(emit)] + (["--prior", prior] if prior else [])
    if budget is not None:
        argv += ["--quality-budget", str(budget)]
    busy_before = machine_busy_seconds()
    child = run_child(argv, folder.parent / f"{mode}.log", cwd=REPO, timeout=case.timeout.get(mode))
    others = others_share(busy_before, machine_busy_seconds(), child.cpu_seconds, child.wall_seconds, machine["cores"])
    entry.update(case_seconds=child.wall_seconds, case_peak_rss_mb=child.peak_rss_mb, case_cpu_seconds=child.cpu_seconds,
                 others_cpu_share=others)
    if child.returncode == 0 and emit.is_file():
        entry["result"] = json.loads(emit.read_text())
        return entry
    why = f"timed out after {child.wall_seconds:.0f} s" if child.timed_out else f"exit code {child.returncode}"
    return {**entry, "status": "failed", "error": _clean(f"{why}\n{child.tail()}", scratch)}


def save(output_dir: Path, results: dict) -> None:
    """Write results.json and RESULTS.md."""
    from dream3d.atomic import write_text
    from suite.document import render_markdown
    from suite.store import write_results

    write_results(output_dir / "results.json", results)
    names = [c.name for c in all_cases() if c.modes != ("smoke",)] + sorted(
        n for n in results["benchmarks"] if n == "smoke")
    write_text(output_dir / "RESULTS.md", render_markdown(results, names))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    cases = all_cases()
    if args.list:
        for case in cases:
            print(f"{case.name:28s} modes: {','.join(case.modes):16s} {case.about}")
        return 0
    from suite.machine import machine_info
    from suite.published import PUBLISHED
    from suite.store import load_results, merge_entry

    mode = "quick" if args.quick else "full"
    try:
        selected = [] if args.render_only else select(cases, args.only, mode)
    except KeyError as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    prior = args.prior or (str(BUNDLED_PRIOR) if (BUNDLED_PRIOR / "model_index.json").is_file() else None)
    results = load_results(args.output_dir / "results.json")
    machine = machine_info()
    results["published"] = PUBLISHED
    if selected:
        results["machine"] = machine
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="dream3d-bench-"))
    failed, run_start = 0, time.perf_counter()
    try:
        for case in selected:
            case_run_mode = case_mode(case, mode)
            if case_run_mode is None:
                print(f"{case.name}: runs in {', '.join(case.modes)} mode only; kept from the previous results")
                continue
            print(f"{case.name} ({case_run_mode}) ...", flush=True)
            start = time.perf_counter()
            entry = run_case(case, case_run_mode, prior, scratch, machine, args.quality_budget)
            failed += entry["status"] == "failed"
            print(f"  {entry['status']} in {time.perf_counter() - start:.1f} s"
                  + (f": {entry['error'].splitlines()[0]}" if entry["error"] else ""), flush=True)
            merge_entry(results, case.name, entry)
            results["updated"] = machine["date"]
            save(args.output_dir, results)
        save(args.output_dir, results)
    finally:
        if args.keep_scratch or args.scratch:
            print(f"runs and logs kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"wrote {args.output_dir / 'RESULTS.md'} and results.json ({time.perf_counter() - run_start:.0f} s in all)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
