"""keep_freed_memory: freed blocks are reused without new page faults, children inherit it,
and a user's own glibc settings win."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dream3d.allocator import MMAP_THRESHOLD_MAX

REPO = Path(__file__).resolve().parent.parent
glibc_only = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="glibc's malloc only")

# A training step's pattern: several large blocks, all touched, all freed, again and again.
# Counts the minor page faults of rounds 2 to 6 (the first round maps the pages once).
ROUNDS = textwrap.dedent("""
    import ctypes, resource, sys
    if sys.argv[1] == "keep":
        from dream3d.allocator import keep_freed_memory
        assert keep_freed_memory()
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    size = 24 << 20
    def one_round():
        blocks = [libc.malloc(size) for _ in range(4)]
        for block in blocks:
            ctypes.memset(block, 1, size)
        for block in blocks:
            libc.free(block)
    one_round()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        one_round()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", ROUNDS, mode], env=_clean_env(), capture_output=True, text=True,
                         check=True)
    return int(out.stdout.strip())


@glibc_only
def test_freed_blocks_are_reused_without_page_faults():
    pages = 5 * 4 * (24 << 20) // 4096  # every page of rounds 2-6, were each one mapped afresh
    default = _faults("default")
    kept = _faults("keep")
    assert default > pages // 2  # glibc's defaults trim the heap and map the pages again
    assert kept < pages // 20


@glibc_only
def test_child_processes_inherit_the_settings_and_the_users_own_are_kept():
    script = ("import os; from dream3d.allocator import keep_freed_memory; keep_freed_memory(); "
              "import subprocess, sys; subprocess.run([sys.executable, '-c', "
              "'import os; print(os.environ[\"MALLOC_MMAP_THRESHOLD_\"], os.environ[\"MALLOC_TRIM_THRESHOLD_\"])'])")
    env = _clean_env()
    env["MALLOC_TRIM_THRESHOLD_"] = "12345"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(MMAP_THRESHOLD_MAX), "12345"]
