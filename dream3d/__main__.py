"""``python -m dream3d ARGS`` is ``python launch.py ARGS`` (the web app starts runs this way)."""
import sys

from dream3d.cli import main

if __name__ == "__main__":
    sys.exit(main())
