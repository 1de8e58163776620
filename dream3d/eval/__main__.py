"""``python -m dream3d.eval RUN_DIR_OR_MESH --prompt "a red cube"``, or
``python -m dream3d.eval --batch prompts.txt --config configs/X.yaml [key=value ...]``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dream3d.eval.batch import read_prompts, run_batch
from dream3d.eval.evaluate import EvalError, evaluate_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dream3d.eval", description="Ground-truth evaluation of bundled-prior assets.")
    parser.add_argument("path", nargs="?", help="a run directory or a mesh file (OBJ/GLB)")
    parser.add_argument("--prompt", help="the prompt the asset was made from (default: the run's own)")
    parser.add_argument("--batch", help="a file with one prompt per line: generate and evaluate each")
    parser.add_argument("--config", help="the config used for --batch runs")
    parser.add_argument("--output-dir", default="outputs/eval", help="where --batch writes runs and eval.md/eval.json")
    parser.add_argument("overrides", nargs="*", help="config overrides for --batch runs")
    args = parser.parse_args(argv)
    try:
        if args.batch:
            if not args.config:
                raise EvalError("--batch needs --config configs/<method>.yaml")
            report = run_batch(read_prompts(Path(args.batch)), args.config, args.overrides, Path(args.output_dir))
            print(report.markdown())
            return 0
        if not args.path:
            raise EvalError("Pass a run directory or mesh file, or --batch prompts.txt --config ...")
        result = evaluate_run(args.path, args.prompt)
    except (EvalError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
