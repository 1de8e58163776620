"""``results.json``: read, merge one run's entries into what an earlier run left, write.

Layout::

    {"schema": 1, "machine": {...latest run...}, "updated": "...",
     "published": [...peer figures...],
     "benchmarks": {case name: {mode: entry}}}

An entry is ``{"status", "mode", "machine", "case_seconds", "case_peak_rss_mb",
"result", "error"}``; ``status`` is ``ok``, ``failed``, ``skipped`` or ``not built``.
Entries are kept per mode, so a ``--quick`` run never replaces a full-mode figure.
"""
from __future__ import annotations

import json
from pathlib import Path

from dream3d.atomic import write_text

SCHEMA = 1
STATUSES = ("ok", "failed", "skipped", "not built")


def empty_results() -> dict:
    """A results document with no benchmarks in it."""
    return {"schema": SCHEMA, "machine": {}, "updated": None, "published": [], "benchmarks": {}}


def load_results(path: Path) -> dict:
    """The results at ``path``, or an empty document when it is missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return empty_results()
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return empty_results()
    data.setdefault("benchmarks", {})
    return data


def merge_entry(results: dict, case: str, entry: dict) -> None:
    """Put one case's entry (for its mode) into ``results``, keeping its other modes."""
    if entry.get("status") not in STATUSES:
        raise ValueError(f"unknown status {entry.get('status')!r} for {case}")
    results["benchmarks"].setdefault(case, {})[entry["mode"]] = entry


def preferred_entry(results: dict, case: str) -> dict | None:
    """The entry to report for ``case``: full mode when it ran well, else quick, else any."""
    modes = results.get("benchmarks", {}).get(case, {})
    for mode in ("full", "quick", "smoke"):
        if modes.get(mode, {}).get("status") == "ok":
            return modes[mode]
    for mode in ("full", "quick", "smoke"):
        if mode in modes:
            return modes[mode]
    return None


def write_results(path: Path, results: dict) -> None:
    """Write ``results`` atomically as indented JSON."""
    write_text(path, json.dumps(results, indent=2, sort_keys=False, default=str) + "\n")
