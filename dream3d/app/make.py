"""From the Make form to the command line of a run, checked before it is queued.

``prepare`` loads the config exactly as ``launch.py`` would (``dream3d.methods.load_config``)
and runs the same checks before work (``dream3d.preflight.check_run``): a bad value or an
out-of-vocabulary prompt is refused at once, with the command line's message. The run
itself is then ``launch.py`` with the returned arguments (``dream3d.app.jobs``).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from dream3d.app.methods import MethodChoice
from dream3d.config import ConfigError
from dream3d.methods import load_config
from dream3d.naming import default_run_dir, slugify
from dream3d.preflight import check_run

LIVE_PREVIEWS = 20
"""Preview grids per run that the app asks for, so the page shows the asset forming."""
LIVE_UPDATES = 200
"""Progress reports (loss, ETA) per run at most."""


@dataclass
class MakeRequest:
    """What the Make form holds."""

    method: str
    prompt: str
    steps: int
    seed: int = 0
    mesh: str | None = None
    """An uploaded mesh file (the texture method)."""
    image: str | None = None
    """An uploaded image (image to 3D)."""
    elevation: float = 0.0
    """The elevation of the camera that took the image, degrees."""


@dataclass
class PreparedRun:
    """A checked run: where it goes and the ``launch.py`` arguments that make it."""

    run_dir: Path
    argv: list[str]
    prompt: str
    method: str
    max_steps: int
    overrides: list[str] = field(default_factory=list)


def live_overrides(steps: int) -> list[str]:
    """A preview every 1/``LIVE_PREVIEWS`` of the run, a progress report every 1/``LIVE_UPDATES``."""
    return [f"trainer.preview_every={max(1, steps // LIVE_PREVIEWS)}", f"trainer.log_every={max(1, steps // LIVE_UPDATES)}"]


def default_steps(choice: MethodChoice, overrides: list[str]) -> int:
    """``trainer.max_steps`` of a method with the app's overrides (without them where they do not
    fit its schema: starting such a run says which key is wrong)."""
    try:
        return load_config(choice.path, overrides).trainer.max_steps
    except ConfigError:
        return load_config(choice.path).trainer.max_steps


def unique_run_dir(run_dir: Path, taken: set[Path]) -> Path:
    """``run_dir``, or ``run_dir-2``, ``-3``... if it exists or another queued run has it."""
    candidate, n = run_dir, 1
    while candidate.exists() or candidate in taken:
        n += 1
        candidate = run_dir.with_name(f"{run_dir.name}-{n}")
    return candidate


def keep_upload(upload: str, state_dir: Path, kind: str) -> Path:
    """A copy of an uploaded file that outlives the upload (a resumed run reads it again)."""
    source = Path(upload)
    if not source.is_file():
        raise ConfigError(f"The uploaded file '{source.name}' is gone; upload it again.")
    target = state_dir / kind / f"{slugify(source.stem)}-{source.stat().st_mtime_ns}{source.suffix.lower()}"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file():
        shutil.copyfile(source, target)
    return target


def prepare(request: MakeRequest, choice: MethodChoice, outputs: Path, app_overrides: list[str],
            state_dir: Path, taken: set[Path] = frozenset()) -> PreparedRun:
    """Check ``request`` as ``launch.py`` would, before any model loads; raises ``ConfigError``
    (or ``OutOfVocabularyError``) with the message to show."""
    if request.steps is None or int(request.steps) != request.steps:
        raise ConfigError(f"Steps must be a whole number, got {request.steps!r}.")
    if request.seed is None or int(request.seed) != request.seed:
        raise ConfigError(f"The seed must be a whole number, got {request.seed!r}.")
    steps, seed = int(request.steps), int(request.seed)
    overrides = [*live_overrides(steps), *app_overrides, f"trainer.max_steps={steps}"]
    flags, extra = ["--seed", str(seed)], {"seed": seed, "system": {}}
    if request.prompt.strip() or not choice.needs_image:  # an image method's prompt only names the folder
        flags += ["--prompt", request.prompt]
        extra["system"]["prompt"] = request.prompt
    if choice.needs_mesh:
        if not request.mesh:
            raise ConfigError("The texture method starts from a mesh: upload an OBJ, GLB or PLY file.")
        mesh = keep_upload(request.mesh, state_dir, "meshes")
        flags += ["--mesh", str(mesh)]
        extra["system"]["mesh_path"] = str(mesh)
    if choice.needs_image:
        if not request.image:
            raise ConfigError("This method makes an asset from an image: upload one (RGBA, or an object on a "
                              "plain background).")
        image, elevation = keep_upload(request.image, state_dir, "images"), float(request.elevation or 0.0)
        flags += ["--image", str(image), "--elevation", str(elevation)]
        extra["system"]["image"] = {"path": str(image), "elevation": elevation}
    config = load_config(choice.path, overrides, extra)
    config.output_root = str(outputs)  # the run directory is passed as --output-dir
    run_dir = unique_run_dir(default_run_dir(config), set(taken))
    check_run(config, run_dir)
    argv = ["--config", str(choice.path), *flags, "--output-dir", str(run_dir), *overrides]
    return PreparedRun(run_dir, argv, config.system.prompt, choice.name, steps, overrides)
