"""The command line behind ``launch.py``: train, resume, re-export and sweep.

User mistakes (a config typo, a missing prior, an unknown word) print one clear message
and exit with code 2, without a traceback (set DREAM3D_DEBUG=1 to see tracebacks). A run
that diverges exits with code 1; an interrupted run exits with 130 after checkpointing.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path

EXIT_USER_ERROR = 2
EXIT_RUNTIME_ERROR = 1
EXIT_INTERRUPTED = 130
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"

log = logging.getLogger("dream3d")


def shipped_configs() -> str:
    """One line per shipped config: its name and the first comment line of the YAML."""
    lines = []
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        first = path.read_text().splitlines()[0] if path.stat().st_size else ""
        lines.append(f"  configs/{path.name:28s} {first.lstrip('# ').strip()}")
    sweeps = ", ".join(f"configs/sweeps/{p.name}" for p in sorted((CONFIG_DIR / "sweeps").glob("*.yaml")))
    listing = "\n".join(lines) if lines else "  (none found)"
    return f"shipped configs:\n{listing}\n\nshipped sweeps (--sweep): {sweeps or '(none)'}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launch.py",
        description="dream3d: text to textured 3D assets by score distillation.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=shipped_configs() + "\n\nexample:\n  python launch.py --config configs/dreamfusion.yaml --prompt \"a red cube\" trainer.max_steps=600",
    )
    parser.add_argument("--config", help="a YAML config (see the list below)")
    parser.add_argument("--prompt", help="what to make; sets system.prompt")
    parser.add_argument("--output-dir", help="the exact run directory (default outputs/<config>/<prompt>@<time>); with --sweep, "
                        "the sweep directory (default outputs/sweeps/<sweep>@<time>)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    parser.add_argument("--export", metavar="RUN_DIR", help="re-export the mesh of a finished run, without training")
    parser.add_argument("--sweep", metavar="SWEEP_YAML", help="run a sweep of trials over prompts, seeds and keys")
    parser.add_argument("--executor", default="local", choices=("local", "ray"), help="where sweep trials run: local processes, or Ray (pip install -e .[distributed])")
    parser.add_argument("--parallel", type=int, default=1, help="local sweep worker processes (each gets cores // N threads)")
    parser.add_argument("--ray-address", default=None, help="Ray cluster address for --executor ray (default: auto)")
    parser.add_argument("--stage", default=None, help="run only this stage of a multi-stage method")
    parser.add_argument("--mesh", default=None, help="input mesh for configs/texture.yaml")
    parser.add_argument("--seed", type=int, default=None, help="random seed (sets seed)")
    parser.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"), help="auto means cuda if available")
    parser.add_argument("overrides", nargs="*", help="dotted config overrides, e.g. system.guidance.guidance_scale=50")
    return parser


def slugify(text: str, limit: int = 60) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return slug[:limit] or "untitled"


def flag_values(args: argparse.Namespace) -> dict:
    """Config values set by named flags."""
    extra: dict = {}
    if args.seed is not None:
        extra["seed"] = args.seed
    if args.device is not None:
        extra["device"] = args.device
    system: dict = {}
    if args.prompt is not None:
        system["prompt"] = args.prompt
    if args.mesh is not None:
        system["mesh_path"] = args.mesh
    if args.stage is not None:
        system["stage"] = args.stage
    if system:
        extra["system"] = system
    return extra


def default_run_dir(config) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(config.output_root) / config.name / f"{slugify(config.system.prompt)}@{stamp}"


def train(config, run_dir: Path, resume: bool) -> int:
    """Build the system, train (or continue), then video, export and metrics."""
    from dream3d.config import save_config
    from dream3d.systems import build_system
    from dream3d.systems.common import resolve_device
    from dream3d.trainer import Trainer, seed_everything

    wall_start = time.perf_counter()
    seed_everything(config.seed)
    device = resolve_device(config.device)
    system = build_system(config, device)  # loads the prior: fails before any file is written
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        save_config(config, run_dir / "config.yaml")
    log.info("Run directory: %s", run_dir)
    trainer = Trainer(system, config, run_dir)
    if resume:
        trainer.load_checkpoint()
        log.info("Resumed at step %d of %d", trainer.step, config.trainer.max_steps)
    result = trainer.fit()
    if result.interrupted:
        trainer.write_metrics(result.metrics)
        print(
            f"Stopped at step {result.final_step}; checkpoint saved to {trainer.checkpoint_path}.\n"
            f"Resume with: python launch.py --resume {run_dir}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    metrics = trainer.finish(result, wall_start)
    log.info("Done in %.1f s (%.2f steps/s). Outputs in %s", metrics["wall_seconds"], metrics["steps_per_second"], run_dir)
    return 0


def export_only(run_dir: Path, overrides: list[str]) -> int:
    """Re-export a run's mesh from its last checkpoint, with optional ``export.*`` overrides."""
    from dream3d.config import load_config
    from dream3d.systems import build_system
    from dream3d.systems.common import resolve_device
    from dream3d.trainer import Trainer

    config = load_config(run_dir / "config.yaml", overrides)
    system = build_system(config, resolve_device(config.device), load_prior=False)
    trainer = Trainer(system, config, run_dir)
    trainer.load_checkpoint()
    summary = system.export(run_dir)
    log.info("Exported %s", summary)
    return 0


def dispatch(args: argparse.Namespace) -> int:
    from dream3d.config import ConfigError, load_config

    if args.resume or args.export:
        run_dir = Path(args.resume or args.export)
        if not (run_dir / "config.yaml").is_file():
            raise ConfigError(f"'{run_dir}' is not a run directory (no config.yaml in it).")
        if args.export:
            return export_only(run_dir, args.overrides)
        if not (run_dir / "ckpts" / "last.ckpt").is_file():
            raise ConfigError(f"'{run_dir}' has no checkpoint to resume from (ckpts/last.ckpt).")
        return train(load_config(run_dir / "config.yaml", args.overrides), run_dir, resume=True)
    if not args.config:
        raise ConfigError("Pass --config configs/<method>.yaml (or --resume / --export RUN_DIR). See --help.")
    if args.sweep:
        from dream3d.sweep import run_sweep_cli

        return run_sweep_cli(args)
    config = load_config(args.config, args.overrides, flag_values(args))
    run_dir = Path(args.output_dir) if args.output_dir else default_run_dir(config)
    return train(config, run_dir, resume=False)


def user_errors() -> tuple[type, ...]:
    """Exceptions that are the user's to fix: reported in one message, exit code 2."""
    from dream3d.config import ConfigError
    from dream3d.optional import MissingAcceleratorError
    from dream3d.prior.model import OutOfVocabularyError, PriorLoadError

    errors: list[type] = [ConfigError, PriorLoadError, OutOfVocabularyError, MissingAcceleratorError, FileNotFoundError]
    try:
        from dream3d.export.types import ExportError

        errors.append(ExportError)
    except ImportError:
        pass
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    from dream3d.trainer import TrainingDiverged

    if os.environ.get("DREAM3D_DEBUG"):
        return dispatch(args)  # full tracebacks for developers
    try:
        return dispatch(args)
    except user_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except ValueError as error:  # invalid choices inside configs (e.g. an unknown weighting)
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except TrainingDiverged as error:
        print(f"error: training diverged: {error}. The last good checkpoint is kept in ckpts/last.ckpt; "
              "try a lower learning rate or guidance scale.", file=sys.stderr)
        return EXIT_RUNTIME_ERROR
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
