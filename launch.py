#!/usr/bin/env python
"""dream3d's command line: ``python launch.py --config configs/X.yaml --prompt "..." [key=value ...]``.

``python launch.py --help`` lists the options and the shipped configs.
"""
import sys

from dream3d.cli import main

if __name__ == "__main__":
    sys.exit(main())
