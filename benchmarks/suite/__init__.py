"""The benchmark suite behind ``benchmarks/run.py``: one module per kind of measurement.

Each measurement is a *case* (``cases.py``) that runs in its own child process, so that
its peak memory is its own and a crash stops only that case. Results are merged into
``benchmarks/results.json`` and rendered as ``benchmarks/RESULTS.md`` (``report.py``).
"""
