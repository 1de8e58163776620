"""The command line behind ``launch.py``: parse, then dispatch to the training service.

User mistakes (a config typo, a missing prior, an unknown word) print one clear message
and exit with code 2, without a traceback (set DREAM3D_DEBUG=1 to see tracebacks). A run
that diverges exits with code 1; an interrupted run exits with 130 after checkpointing.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from dream3d.allocator import keep_freed_memory
from dream3d.gc_pause import loading
from dream3d.launch_args import build_parser, flag_values

log = logging.getLogger("dream3d")


def dispatch(args: argparse.Namespace) -> int:
    """Send parsed arguments to the service (imported here: ``--help`` stays instant)."""
    from dream3d import service
    from dream3d.config import ConfigError
    from dream3d.methods import load_config
    from dream3d.naming import default_run_dir

    if args.overwrite and (args.export or args.resume or args.sweep):
        raise ConfigError("--overwrite replaces the run in --output-dir with a new one; it cannot be combined with "
                          "--export, --resume or --sweep.")
    if args.export:
        return service.export_only(Path(args.export), args.overrides)
    if args.resume:
        return service.resume(Path(args.resume), args.overrides)
    if not args.config:
        raise ConfigError("Pass --config configs/<method>.yaml (or --resume / --export RUN_DIR). See --help.")
    if args.sweep:
        from dream3d.sweep import run_sweep_cli

        return run_sweep_cli(args)
    config = load_config(args.config, args.overrides, flag_values(args))
    run_dir = Path(args.output_dir) if args.output_dir else default_run_dir(config)
    return service.train(config, run_dir, overwrite=args.overwrite)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    keep_freed_memory()  # before torch allocates: no page faults on every step's tensors
    args = build_parser().parse_args(argv)
    with loading():  # torch, diffusers, transformers: no full collections while they import
        from dream3d.service import guarded

    return guarded(lambda: dispatch(args))
