"""``python -m dream3d.app [--port 7860] [--outputs outputs] [key=value ...]``: the web app.

It listens on 127.0.0.1 only (``--host`` to change that). Dotted ``key=value`` overrides
apply to every run it starts, as on ``launch.py``'s command line.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from dream3d.exit_codes import EXIT_USER_ERROR


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dream3d.app", description="dream3d's web app: make, watch and "
                                     "download 3D assets; earlier runs in a gallery.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--outputs", default="outputs", help="where runs are written and the gallery looks")
    parser.add_argument("--method", default=None, help="the method selected when the page opens "
                        "(default: the first that suits this machine)")
    parser.add_argument("--refresh", type=float, default=1.0, metavar="SECONDS",
                        help="how often a page refreshes the run it shows (default 1)")
    parser.add_argument("overrides", nargs="*", help="config overrides for every run, e.g. trainer.logger=tensorboard")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio's own start-up requests
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio  # noqa: F401 - checked here for a clear message
    except ImportError:
        print('error: the web app needs gradio: pip install -e ".[app]"', file=sys.stderr)
        return EXIT_USER_ERROR
    from dream3d.app.server import serve
    from dream3d.service import USER_ERRORS

    try:
        return serve(args.host, args.port, Path(args.outputs), args.overrides, args.method, args.refresh)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
