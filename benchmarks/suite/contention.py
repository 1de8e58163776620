"""How much of the machine other processes used while a case ran (shared machines).

``/proc/stat`` gives the busy CPU time of the whole machine; subtracting the case's own CPU
time (its child process and all its descendants, from ``wait4``) leaves what others used.
"""
from __future__ import annotations

import os


def machine_busy_seconds() -> float | None:
    """Busy CPU seconds of all cores since boot (Linux), or None where unknown."""
    try:
        with open("/proc/stat", encoding="utf-8") as handle:
            fields = [int(x) for x in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def others_share(busy_before: float | None, busy_after: float | None, own_cpu_seconds: float, wall_seconds: float,
                 cores: int) -> float | None:
    """Share of the machine's CPU capacity used by other processes during the case (0..1)."""
    if busy_before is None or busy_after is None or wall_seconds <= 0:
        return None
    others = max(busy_after - busy_before - own_cpu_seconds, 0.0)
    return min(others / (wall_seconds * cores), 1.0)
