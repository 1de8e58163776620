"""Wall-clock time per named section of a training step."""
from __future__ import annotations

import contextlib
import time
from typing import Iterator

import torch


class SectionTimer:
    """Wall-clock time per named section, synchronising CUDA so timings are honest."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    @contextlib.contextmanager
    def section(self, name: str) -> Iterator[None]:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        try:
            yield
        finally:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - start
