"""How far apart two backends' outputs are, and whether that is within a stated tolerance."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Tolerance:
    """Largest accepted absolute differences; ``relative`` scales both by ``max |reference|``."""

    max_abs: float
    mean_abs: float
    relative: bool = False
    why: str = ""


@dataclass
class Difference:
    """``max |a - b|`` and ``mean |a - b|`` of one output, and the verdict against its tolerance."""

    name: str
    max_abs: float
    mean_abs: float
    reference_scale: float
    tolerance: Tolerance
    passed: bool

    def as_dict(self) -> dict:
        out = asdict(self)
        out["tolerance"] = asdict(self.tolerance)
        return out


def difference(name: str, candidate: Tensor, reference: Tensor, tolerance: Tolerance) -> Difference:
    """Compare ``candidate`` (the CUDA path) with ``reference`` (the torch fallback), elementwise."""
    if candidate.shape != reference.shape:
        raise ValueError(f"{name}: shapes differ, {tuple(candidate.shape)} vs {tuple(reference.shape)}")
    a, b = candidate.detach().double().cpu(), reference.detach().double().cpu()
    gap = (a - b).abs()
    scale = float(b.abs().max()) if b.numel() else 0.0
    factor = max(scale, 1e-12) if tolerance.relative else 1.0
    max_abs = float(gap.max()) if gap.numel() else 0.0
    mean_abs = float(gap.mean()) if gap.numel() else 0.0
    finite = bool(torch.isfinite(a).all())
    passed = finite and max_abs <= tolerance.max_abs * factor and mean_abs <= tolerance.mean_abs * factor
    return Difference(name, max_abs, mean_abs, scale, tolerance, passed)
