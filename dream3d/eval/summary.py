"""Rates and means over evaluated prompts (``EvalResult.to_dict()`` rows), each rate with the
number of assets it is over: one prompt at one seed is an anecdote.

Rows written before a metric existed (an older ``eval.json``) lack its key; such rows are left
out of that metric's rate or mean, and its ``n`` says how many were counted.
"""
from __future__ import annotations

from dream3d.prior.catalog import FEATURED


def counted(rows: list[dict], key: str) -> list[dict]:
    """The rows that have a value (not None) for ``key``."""
    return [r for r in rows if r.get(key) is not None]


def rate(rows: list[dict], key: str) -> dict:
    """``{"n": assets with the key, "rate": share of them where it is true}`` (rate None when n is 0)."""
    have = counted(rows, key)
    return {"n": len(have), "rate": sum(bool(r[key]) for r in have) / len(have) if have else None}


def mean(rows: list[dict], key: str) -> float | None:
    """Mean of ``key`` over the rows that have it, or None."""
    have = counted(rows, key)
    return sum(float(r[key]) for r in have) / len(have) if have else None


def surface_means(rows: list[dict]) -> dict:
    """Mean Chamfer-L1, normal consistency and F@0.05, and the genus and watertight rates."""
    return {
        "mean_chamfer_l1": mean(rows, "chamfer_l1"),
        "mean_normal_consistency": mean(rows, "normal_consistency"),
        "mean_fscore": mean(rows, "fscore"),
        "genus": rate(rows, "genus_correct"),
        "watertight": rate(rows, "watertight"),
    }


def feature_rates(rows: list[dict]) -> dict:
    """Janus, missing and oriented rates over the rows of shapes with a front (mug, chair)."""
    featured = [r for r in rows if r.get("target_shape") in FEATURED and r.get("feature_count") is not None]
    return {"n": len(featured), **{flag: rate(featured, flag)["rate"] for flag in ("janus", "missing", "oriented")}}


def janus_summary(rows: list[dict]) -> dict:
    """Feature rates over every mug and chair prompt, and per shape."""
    return {**feature_rates(rows),
            "by_shape": {shape: feature_rates([r for r in rows if r.get("target_shape") == shape]) for shape in FEATURED}}


def share(value: float | None, n: int) -> str:
    """``"75% of 8"`` (``"- of 0"`` without assets)."""
    return f"{value:.0%} of {n}" if value is not None and n else f"- of {n}"


def number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def surface_text(s: dict) -> str:
    """``Chamfer-L1 0.012, NC 0.91, F@0.05 0.95; genus right 75% of 8, watertight 100% of 8``."""
    return (f"Chamfer-L1 {number(s['mean_chamfer_l1'])}, NC {number(s['mean_normal_consistency'], 2)}, "
            f"F@0.05 {number(s['mean_fscore'], 2)}; genus right {share(s['genus']['rate'], s['genus']['n'])}, "
            f"watertight {share(s['watertight']['rate'], s['watertight']['n'])}")


def feature_text(f: dict) -> str:
    """``Janus 50% of 4, missing 0% of 4, oriented 25% of 4`` (mug and chair assets)."""
    return ", ".join(f"{label} {share(f[key], f['n'])}" for label, key in (("Janus", "janus"), ("missing", "missing"),
                                                                           ("oriented", "oriented")))


def janus_text(j: dict) -> str:
    """``Janus rate 50% of 4 (missing 0% of 4, oriented 25% of 4)``, over mug and chair assets."""
    return (f"Janus rate {share(j['janus'], j['n'])} (missing {share(j['missing'], j['n'])}, "
            f"oriented {share(j['oriented'], j['n'])})")
