"""Number formatting for the results tables."""
from __future__ import annotations

import math

DASH = "—"


def seconds(value: float | None) -> str:
    """``850 ms``, ``12.3 s``, ``4 min 10 s`` or ``1 h 02 min``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if value < 1.0:
        return f"{value * 1000:.0f} ms" if value >= 0.01 else f"{value * 1000:.1f} ms"
    if value < 100:
        return f"{value:.1f} s"
    if value < 3600:
        return f"{int(value // 60)} min {int(round(value % 60)):02d} s"
    return f"{int(value // 3600)} h {int(round(value % 3600 / 60)):02d} min"


def share(value: float | None) -> str:
    """A fraction as a percentage."""
    return DASH if value is None else f"{100 * value:.0f}%" if value >= 0.1 else f"{100 * value:.1f}%"


def rate(value: float | None) -> str:
    """Large rates with an SI prefix: ``3.2 G``."""
    if value is None or value != value:
        return DASH
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.3g} {prefix}"
    return f"{value:.3g}"


def megabytes(value: float | None) -> str:
    """MiB, or GiB above 1 GiB."""
    if value is None:
        return DASH
    return f"{value / 1024:.2f} GiB" if value >= 1024 else f"{value:.0f} MiB"


def number(value: float | None, digits: int = 3) -> str:
    """A plain number with ``digits`` significant digits."""
    return DASH if value is None else f"{value:.{digits}g}"
