"""Ground-truth evaluation of a generated asset against the shape its prompt names.

Reports the predicted shape (nearest canonical shape under centring, scale and a rotation
about the up axis), the predicted colour (hue of the surface's mean albedo), the Chamfer
distance to the true shape, and pass/fail (shape and colour both right); then the surface
quality against the true shape after that alignment (Chamfer-L1, normal consistency,
F-score at 0.05: ``surface.py``), the genus of the welded mesh against the truth
(``topology.py``), and for the mug and the chair the feature count with its Janus /
missing / oriented flags (``janus.py``).

The surface scored is the one a user sees: the largest piece of the mesh, and of it only
the faces visible from a ring of views around it. The genus is that of the whole mesh's
largest welded piece: tunnels that no view shows count.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import trimesh

from dream3d.eval.colour import nearest_colour
from dream3d.eval.janus import count_features
from dream3d.eval.shape_match import match_shape, rms_radius
from dream3d.eval.surface import score_surface
from dream3d.eval.topology import TRUE_GENUS, topology
from dream3d.eval.visibility import visible_surface
from dream3d.export.formats import from_y_up
from dream3d.prior.catalog import FEATURED, SHAPES, parse_prompt


class EvalError(ValueError):
    """The asset or prompt cannot be evaluated (message says why)."""


@dataclass
class EvalResult:
    """One asset's scores."""

    prompt: str
    target_shape: str
    target_colour: str
    held_out: bool
    predicted_shape: str
    predicted_colour: str
    chamfer: float
    """Chamfer distance to the true shape, world units (after centring, scale, rotation): the
    shape match's distance, from 1024 points a side (its floor is about 0.02 for the mug)."""
    mean_albedo: tuple[float, float, float]
    shape_correct: bool
    colour_correct: bool
    passed: bool
    chamfer_l1: float
    """Chamfer-L1 to the true shape from dense samples, world units (``surface.py``)."""
    normal_consistency: float
    """Mean |n_pred . n_true| over nearest-neighbour pairs, both directions averaged."""
    fscore: float
    """F-score at τ = 0.05 world units."""
    genus: int
    """Genus of the mesh's largest welded piece, from its Euler characteristic."""
    true_genus: int
    watertight: bool
    """That piece is closed and manifold."""
    components: int
    """Connected pieces of the welded mesh."""
    genus_correct: bool
    """Watertight and of the true genus."""
    seed: int | None = None
    """The run's seed, where a batch ran several (``--batch ... --seeds``)."""
    feature: str | None = None
    """The target shape's feature ("handle", "backrest"), or None for a shape without one."""
    feature_count: int | None = None
    feature_azimuths: list[float] | None = None
    """Direction of each feature found, degrees counter-clockwise from +x (asset's own frame)."""
    janus: bool | None = None
    """Two or more of the feature."""
    missing: bool | None = None
    """None of the feature."""
    oriented: bool | None = None
    """One feature, within 45 degrees of where the spec puts it (handle +y, backrest -x)."""
    seconds: float | None = None
    """Wall time of the run that made the asset (its ``metrics.json``), where a batch made it."""

    def to_dict(self) -> dict:
        return asdict(self)


def load_world_mesh(path: Path) -> trimesh.Trimesh:
    """Load an exported OBJ/GLB (+Y up) as one mesh in dream3d's +Z-up world."""
    try:
        loaded = trimesh.load(path, process=False)
    except Exception as error:  # noqa: BLE001 - any reader failure is a user-facing error
        raise EvalError(f"Could not read mesh '{path}': {error}") from None
    mesh = loaded.to_geometry() if isinstance(loaded, trimesh.Scene) else loaded
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise EvalError(f"'{path}' holds no triangles to evaluate.")
    mesh = mesh.copy()
    mesh.vertices = from_y_up(np.asarray(mesh.vertices))
    return mesh


def surface_samples(mesh: trimesh.Trimesh, count: int = 1024, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points ``[N,3]`` sampled uniformly on the surface and their albedo ``[N,3]`` in [0,1]."""
    points, face_index, barycentric = _sample(mesh, count, seed)
    visual = mesh.visual
    if isinstance(visual, trimesh.visual.TextureVisuals) and visual.uv is not None and _texture_image(visual) is not None:
        uv = (visual.uv[mesh.faces[face_index]] * barycentric[..., None]).sum(1)
        colours = _lookup(np.asarray(_texture_image(visual).convert("RGB"), dtype=np.float32) / 255.0, uv)
    elif visual.kind == "vertex":
        vertex_colours = np.asarray(visual.vertex_colors, dtype=np.float32)[:, :3] / 255.0
        colours = (vertex_colours[mesh.faces[face_index]] * barycentric[..., None]).sum(1)
    else:
        colours = np.full((len(points), 3), 0.5, dtype=np.float32)
    return points.astype(np.float32), colours


def _sample(mesh: trimesh.Trimesh, count: int, seed: int):
    points, face_index = trimesh.sample.sample_surface(mesh, count, seed=seed)
    triangles = mesh.triangles[face_index]
    barycentric = trimesh.triangles.points_to_barycentric(triangles, points)
    return np.asarray(points), face_index, np.clip(barycentric, 0.0, 1.0)


def _texture_image(visual):
    material = visual.material
    return getattr(material, "image", None) or getattr(material, "baseColorTexture", None)


def _lookup(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Nearest-texel colours ``[N,3]`` at OBJ-convention UVs ((0,0) bottom-left)."""
    height, width = image.shape[:2]
    cols = np.clip((uv[:, 0] % 1.0) * width, 0, width - 1).astype(int)
    rows = np.clip((1.0 - uv[:, 1] % 1.0) * height, 0, height - 1).astype(int)
    return image[rows, cols, :3]


def outer_shell(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """The connected piece with the largest bounding box, after welding UV seams.

    A NeRF's isosurface can hold closed shells inside the visible one (where the density
    dips inside the object); only the outer surface is what a user sees and what is scored.
    """
    welded = mesh.copy()
    welded.merge_vertices(merge_tex=True, merge_norm=True)
    pieces = welded.split(only_watertight=False)
    if len(pieces) <= 1:
        return mesh
    return max(pieces, key=lambda piece: piece.bounding_box.volume)


def evaluate_mesh(mesh: trimesh.Trimesh, prompt: str, shapes: tuple[str, ...] = SHAPES) -> EvalResult:
    """Score a world-space mesh's outer surface against the primitive and colour of ``prompt``;
    the shape is matched among ``shapes`` (those the asset's prior knows)."""
    target = parse_prompt(prompt)
    if target is None:
        raise EvalError(f"The prompt {prompt!r} does not name one bundled-prior colour and shape (e.g. 'a red cube').")
    scored = visible_surface(outer_shell(mesh))
    points, colours = surface_samples(scored)
    match = match_shape(points, shapes=shapes if target.shape in shapes else (*shapes, target.shape))
    mean_albedo = colours.mean(0)
    colour, _ = nearest_colour(mean_albedo)
    shape_ok, colour_ok = match.shape == target.shape, colour == target.colour
    surface = score_surface(scored, target.shape, match)
    found = topology(mesh)
    true_genus = TRUE_GENUS[target.shape]
    features = {}
    if target.shape in FEATURED:
        count = count_features(scored, target.shape)
        features = {"feature": count.feature, "feature_count": count.count, "feature_azimuths": count.azimuths,
                    "janus": count.janus, "missing": count.missing, "oriented": count.oriented}
    return EvalResult(
        prompt=prompt, target_shape=target.shape, target_colour=target.colour, held_out=target.held_out,
        predicted_shape=match.shape, predicted_colour=colour,
        chamfer=match.world_chamfer(target.shape, rms_radius(target.shape)),
        mean_albedo=tuple(float(c) for c in mean_albedo),
        shape_correct=shape_ok, colour_correct=colour_ok, passed=shape_ok and colour_ok,
        chamfer_l1=surface.chamfer_l1, normal_consistency=surface.normal_consistency, fscore=surface.fscore,
        genus=found.genus, true_genus=true_genus, watertight=found.watertight, components=found.components,
        genus_correct=found.watertight and found.genus == true_genus, **features,
    )


def find_mesh(path: Path) -> Path:
    """The mesh file of a run directory (``mesh/model.glb`` or ``.obj``) or the path itself."""
    if path.is_file():
        return path
    for candidate in (path / "mesh" / "model.glb", path / "mesh" / "model.obj"):
        if candidate.is_file():
            return candidate
    raise EvalError(f"No mesh found at '{path}' (expected a mesh file or a run directory with mesh/model.glb).")


def evaluate_run(path: str | Path, prompt: str | None = None) -> EvalResult:
    """Evaluate a run directory or a mesh file; the prompt defaults to the run's own. A run made
    with a closed-vocabulary prior is matched among the shapes that prior knows: an asset of
    the six-primitive prior is never called a mug."""
    path = Path(path)
    if prompt is None:
        prompt = _run_prompt(path)
    return evaluate_mesh(load_world_mesh(find_mesh(path)), prompt, known_shapes(path))


def known_shapes(run_dir: Path) -> tuple[str, ...]:
    """The world's shapes that the run's prior has words for (all of them without a run config)."""
    config = run_dir / "config.yaml"
    if not config.is_file():
        return SHAPES
    from omegaconf import OmegaConf

    from dream3d.prior.source import local_folder
    from dream3d.prior.vocabulary import read_vocabulary

    pretrained = OmegaConf.select(OmegaConf.load(config), "system.prior.pretrained")
    folder = local_folder(str(pretrained)) if pretrained else None
    vocabulary = read_vocabulary(folder) if folder is not None else None
    if vocabulary is None:
        return SHAPES
    return tuple(s for s in SHAPES if s in vocabulary) or SHAPES


def _run_prompt(run_dir: Path) -> str:
    config = run_dir / "config.yaml"
    if not config.is_file():
        raise EvalError(f"Pass --prompt: '{run_dir}' is not a run directory with a config.yaml.")
    from omegaconf import OmegaConf

    return str(OmegaConf.load(config).system.prompt)
