"""The parts of ``benchmarks/gpu_check.py``: one job per module.

- ``compare``: differences between two backends' outputs, and their thresholds;
- ``crosschecks``: every CUDA path against its pure-torch fallback, on identical inputs;
- ``sd_prior``: Stable Diffusion 2.1-base's architecture with random weights, as a folder;
- ``config_runs``: timed runs of shipped configs through the training service;
- ``report``: the markdown and JSON report.
"""
