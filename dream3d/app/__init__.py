"""The web app: ``python -m dream3d.app`` (``pip install -e ".[app]"``).

A thin layer on the command line: each run is ``launch.py`` in a child process
(``jobs``), checked first by the same pre-flight checks (``make``); the page (``layout``)
shows its progress, preview and result, read from the run directory (``runs``, ``watch``).
Modules other than ``layout`` and ``server`` do not import gradio.
"""
