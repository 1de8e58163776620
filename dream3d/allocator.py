"""Keep freed tensor memory in the process instead of handing it back to the OS (glibc only).

PyTorch's CPU tensors come from ``malloc``. glibc serves blocks above its mmap threshold
(128 KiB at first, raised dynamically up to 32 MiB) with a fresh ``mmap`` and unmaps them on
``free``; it also trims the heap's top once more than 128 KiB of it is free. A training step
allocates and frees the same few hundred megabytes every time, so each step maps new pages
and the kernel zeroes every one of them on first touch: a default DreamGaussian run took about
5 million page faults and 12 s of system time (``benchmarks/dreamgaussian-speed-8.md``).

:func:`keep_freed_memory` fixes the mmap threshold at its maximum (32 MiB on 64-bit glibc)
and trims the heap's top only once 1 GiB of it is free, with ``mallopt`` for this process and
with glibc's ``MALLOC_*_`` environment variables for the processes it starts. The command
lines call it first: ``launch.py`` (so also each web-app run, a ``launch.py`` child),
``python -m dream3d.eval``, the prior trainings, and each sweep trial (a Ray worker is not
the launcher's child). Only where memory lives changes, not any result: runs are bit for
bit the same. The resident set grows a little (a DreamGaussian run's from 1.06 to 1.13 GB).
Elsewhere (macOS, Windows, musl) it does nothing.
"""
from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit
TRIM_THRESHOLD = 1024 * 1024 * 1024  # mallopt takes an int
SETTINGS = {M_MMAP_THRESHOLD: ("MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD_MAX),
            M_TRIM_THRESHOLD: ("MALLOC_TRIM_THRESHOLD_", TRIM_THRESHOLD)}


def keep_freed_memory() -> bool:
    """Apply the settings above; True where glibc took them. Variables the user set are kept."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    applied = True
    for parameter, (variable, value) in SETTINGS.items():
        if variable in os.environ:
            continue  # the user's choice: glibc already read it at start-up
        applied = bool(mallopt(parameter, value)) and applied
        os.environ[variable] = str(value)
    return applied
