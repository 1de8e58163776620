"""Exit codes of every dream3d command."""

EXIT_OK = 0
EXIT_RUNTIME_ERROR = 1
"""The run failed (e.g. it diverged)."""
EXIT_USER_ERROR = 2
"""Bad input: a config typo, a missing file, an unknown word. One message, no traceback."""
EXIT_INTERRUPTED = 130
"""Ctrl-C or SIGTERM: a checkpoint was written and the run can be resumed."""
