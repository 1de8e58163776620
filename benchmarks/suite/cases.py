"""The benchmark cases: names, which modes they run in, and what each one runs.

A case is called in a child process with a ``Context`` and returns a JSON-able dict.
Names are ``group/item``; ``--only group`` selects the whole group.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from suite.methods import METHODS

MODES = ("quick", "full", "smoke")


@dataclass
class Context:
    """What a case gets: the mode, the repository, its scratch folder and the prior to use."""

    mode: str
    repo: Path
    scratch: Path
    prior: str | None
    """The diffusers prior for training runs (None when the bundled prior is missing)."""
    budget: float | None = None
    """Seconds after which a quality case starts no new prompt (None: no limit)."""


@dataclass(frozen=True)
class Case:
    """One measurement."""

    name: str
    run: Callable[[Context], dict]
    modes: tuple[str, ...] = ("quick", "full")
    """Modes it runs in; others skip it (and keep what an earlier run recorded)."""
    method: str | None = None
    """The method it needs built, if any."""
    needs_prior: bool = False
    """Whether it needs the bundled prior."""
    timeout: dict[str, float] = field(default_factory=lambda: {"smoke": 600.0, "quick": 600.0, "full": 7200.0})
    """Seconds before the child is stopped, per mode."""
    about: str = ""


def _end_to_end(method: str) -> Callable[[Context], dict]:
    def run(ctx: Context) -> dict:
        from suite.end_to_end import run_method

        return run_method(ctx.repo, method, ctx.prior, ctx.mode, ctx.scratch)

    return run


def _quality(method: str) -> Callable[[Context], dict]:
    def run(ctx: Context) -> dict:
        from suite.quality import run_quality

        return run_quality(ctx.repo, method, ctx.prior, ctx.mode, ctx.scratch, ctx.budget)

    return run


def _throughput(kind: str) -> Callable[[Context], dict]:
    def run(ctx: Context) -> dict:
        from suite.throughput import run_throughput, trained_checkpoint

        return run_throughput(ctx.repo, kind, ctx.mode, trained_checkpoint(ctx.scratch, ctx.mode))

    return run


def _sd_scale(ctx: Context) -> dict:
    from suite.sd_scale import run_sd_scale

    return run_sd_scale(ctx.repo, ctx.mode)


def _smoke(ctx: Context) -> dict:
    """Every code path at tiny sizes with the tests' tiny random prior (for tests/test_benchmarks.py)."""
    import sys

    from suite.end_to_end import run_dir, run_method
    from suite.sd_scale import run_sd_scale
    from suite.throughput import run_throughput

    sys.path.insert(0, str(ctx.repo / "tests"))
    from tiny_prior import build_tiny_prior

    prior = str(build_tiny_prior(ctx.scratch / "tiny-sd"))
    end_to_end = run_method(ctx.repo, "dreamfusion", prior, "smoke", ctx.scratch)
    checkpoint = run_dir(ctx.scratch, "dreamfusion") / "ckpts" / "last.ckpt"
    return {
        "end_to_end": end_to_end,
        "throughput": {kind: run_throughput(ctx.repo, kind, "smoke", checkpoint) for kind in ("volume", "splat", "raster")},
        "sd_scale": run_sd_scale(ctx.repo, "smoke"),
    }


def all_cases() -> list[Case]:
    """Every case, in the order a full run takes them."""
    cases = [Case(f"end_to_end/{m}", _end_to_end(m), method=m, needs_prior=True,
                  about=f"launch.py {METHODS[m]} end to end: wall time, steps/s, peak RSS, step breakdown")
             for m in METHODS]
    cases += [Case(f"throughput/{k}", _throughput(k), about=f"torch {k} fallback against its naive reference")
              for k in ("volume", "splat", "raster")]
    cases.append(Case("sd_scale", _sd_scale, timeout={"quick": 900.0, "full": 3600.0},
                      about="SDS steps with SD 2.1-base's architecture (random weights) on CPU"))
    cases.append(Case("quality/dreamfusion", _quality("dreamfusion"), method="dreamfusion", needs_prior=True,
                      timeout={"quick": 900.0, "full": 36000.0}, about="ground-truth evaluation, seen and held-out"))
    cases += [Case(f"quality/{m}", _quality(m), modes=("full",), method=m, needs_prior=True,
                   timeout={"full": 36000.0}, about="ground-truth evaluation, seen and held-out")
              for m in ("prolificdreamer", "dreamgaussian")]
    cases.append(Case("smoke", _smoke, modes=("smoke",), about="tiny sizes, tiny random prior: checks the suite runs"))
    return cases


def select(cases: list[Case], only: list[str] | None, mode: str) -> list[Case]:
    """The cases ``--only`` names (exactly, or by group), else every case that runs in ``mode``."""
    if not only:
        return [c for c in cases if mode in c.modes]
    known = {c.name for c in cases} | {c.name.split("/")[0] for c in cases}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise KeyError(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return [c for c in cases if c.name in only or c.name.split("/")[0] in only]


def case_mode(case: Case, mode: str) -> str | None:
    """The mode ``case`` runs in for a ``mode`` run (smoke cases always run as smoke), or None."""
    if mode in case.modes:
        return mode
    if case.modes == ("smoke",):
        return "smoke"
    return None
