"""No garbage collection while loading libraries and models; what loading made is then frozen.

Importing torch, diffusers and transformers, and building a prior, creates about half a
million long-lived objects and almost no garbage. CPython's full collection runs each time the
long-lived objects grow by a quarter, and scans all of them: a DreamGaussian start-up spent
0.9 s in eight full collections that freed a few thousand objects (``benchmarks/dreamgaussian-speed-3.md``).
``loading()`` switches the collector off for such a block, then moves everything alive into
the permanent generation (``gc.freeze``, as CPython's documentation suggests for start-up
objects) and switches it back on, so later collections never scan those objects again.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def loading() -> Iterator[None]:
    """Collector off inside; afterwards, the survivors frozen and the collector as it was."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
