"""The arguments of ``launch.py``: the parser, and the config values that named flags set."""
from __future__ import annotations

import argparse
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


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
    parser.add_argument("--overwrite", action="store_true", help="replace the run already in --output-dir "
                        "(its outputs are deleted first; other files there are kept)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    parser.add_argument("--export", metavar="RUN_DIR", help="re-export the mesh of a finished run, without training")
    parser.add_argument("--sweep", metavar="SWEEP_YAML", help="run a sweep of trials over prompts, seeds and keys")
    parser.add_argument("--executor", default="local", choices=("local", "ray"), help="where sweep trials run: local processes, or Ray (pip install -e .[distributed])")
    parser.add_argument("--parallel", type=int, default=1, help="local sweep worker processes (each gets cores // N threads)")
    parser.add_argument("--ray-address", default=None, help="Ray cluster address for --executor ray (default: auto)")
    parser.add_argument("--stage", default=None, help="run only this stage of a multi-stage method")
    parser.add_argument("--mesh", default=None, help="input mesh for configs/texture.yaml")
    parser.add_argument("--image", default=None, help="input image for image-to-3D (configs/dreamgaussian-image.yaml): "
                        "RGBA, or an object on a plain background; sets system.image.path")
    parser.add_argument("--elevation", type=float, default=None,
                        help="with --image: the elevation of the camera that took it, in degrees (default 0)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (sets seed)")
    parser.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"), help="auto means cuda if available")
    parser.add_argument("overrides", nargs="*", help="dotted config overrides, e.g. system.guidance.guidance_scale=50")
    return parser


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
    image = {k: v for k, v in (("path", args.image), ("elevation", args.elevation)) if v is not None}
    if image:
        system["image"] = image
    if system:
        extra["system"] = system
    return extra
