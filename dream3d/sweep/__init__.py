"""Sweeps: many runs of one config over prompts, seeds and config keys, with a gallery.

``python launch.py --config configs/dreamfusion.yaml --sweep configs/sweeps/shapes.yaml``

- ``spec``: the sweep file's typed schema (``grid``, ``zip``, ``prompts``, ``prompts_file``,
  ``seed``, ``overrides``, ``resources``, ``retries``); unknown keys are errors.
- ``expand``: the trials (a cartesian product) and their validated run configs.
- ``worker``: one trial, through the same path as ``launch.py`` (``load_config`` + ``dream3d.service.train``).
- ``executors``: ``local`` (in process, or ``--parallel N`` spawned processes with
  ``cores // N`` threads each) and ``ray`` (one Ray task per trial, with the sweep's
  ``resources``; Ray retries a failed trial ``retries`` times).
- ``results``: ``results.csv`` / ``results.json`` rows and ground-truth scores.
- ``gallery``: ``index.html``, a static page that opens from disk.

The sweep directory (``<output_root>/sweeps/<name>@<time>`` or ``--output-dir``) holds
``sweep.yaml``, ``results.csv``, ``results.json``, ``index.html`` and one ordinary run
directory per trial in ``trials/<index>_<slug>/``. Running the same sweep into the same
directory again skips finished trials and re-runs failed or missing ones.

Ray: every worker writes straight into the sweep directory, so all nodes must see it at
the same path (a shared filesystem such as NFS), and every node needs the same dream3d
environment (and the prior) installed.
"""
from dream3d.sweep.run import run_sweep, run_sweep_cli
from dream3d.sweep.spec import SweepSpec, load_sweep

__all__ = ["SweepSpec", "load_sweep", "run_sweep", "run_sweep_cli"]
