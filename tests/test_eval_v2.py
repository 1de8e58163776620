"""World v2's evaluation: canonical mug and chair, surface metrics, genus, Janus count, tables."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
import trimesh

from dream3d.eval.canonical import canonical_mesh
from dream3d.eval.janus import count_features
from dream3d.eval.sdf_mesh import mesh_from_sdf
from dream3d.eval.shape_match import match_shape
from dream3d.eval.surface import sample_with_normals, score_surface, surface_scores
from dream3d.eval.topology import TRUE_GENUS, topology
from dream3d.prior.catalog import COLOURS, SHAPES
from dream3d.prior.primitives import MUG_CENTRE_Y, sdf_chair, sdf_cube, sdf_mug, volume


def turned(mesh: trimesh.Trimesh, degrees: float) -> trimesh.Trimesh:
    """A copy turned about +z."""
    mesh = mesh.copy()
    mesh.apply_transform(trimesh.transformations.rotation_matrix(math.radians(degrees), (0, 0, 1)))
    return mesh


def two_handled_mug() -> trimesh.Trimesh:
    """The mug and its mirror image across the body's xz-plane: handles at +y and -y."""
    def sdf(p):
        mirrored = p.clone()
        mirrored[:, 1] = -2 * MUG_CENTRE_Y - p[:, 1]  # the body's axis is at y = -MUG_CENTRE_Y
        return torch.minimum(sdf_mug(p), sdf_mug(mirrored))

    return mesh_from_sdf(sdf, (-0.35, -0.7, -0.45), (0.35, 0.5, 0.45), spacing=0.01)


def two_backrest_chair() -> trimesh.Trimesh:
    """The chair and its mirror image across the yz-plane: backrests at -x and +x."""
    def sdf(p):
        mirrored = p.clone()
        mirrored[:, 0] = -p[:, 0]
        return torch.minimum(sdf_chair(p), sdf_chair(mirrored))

    return mesh_from_sdf(sdf, (-0.4, -0.4, -0.55), (0.4, 0.4, 0.55), spacing=0.01)


def drilled_cube(tunnels_y: tuple[float, ...]) -> trimesh.Trimesh:
    """The cube with a round tunnel (radius 0.1) along x through (y, z = 0) for each y."""
    def sdf(p):
        distance = sdf_cube(p)
        for y in tunnels_y:
            tunnel = torch.stack([p[:, 1] - y, p[:, 2]], -1).norm(dim=-1) - 0.1
            distance = torch.maximum(distance, -tunnel)
        return distance

    return mesh_from_sdf(sdf, (-0.4, -0.4, -0.4), (0.4, 0.4, 0.4), spacing=0.02)


# ------------------------------------------------------------------------ canonical meshes
def test_canonical_meshes_are_closed_with_the_true_genus_and_volume():
    for shape in SHAPES:
        found = topology(canonical_mesh(shape))
        assert found.watertight and found.components == 1 and found.genus == TRUE_GENUS[shape], shape
    for shape in ("mug", "chair"):
        mesh = canonical_mesh(shape)
        assert mesh.is_watertight and abs(mesh.volume / volume(shape) - 1) < 0.01
        assert np.allclose(mesh.bounds.mean(0), 0.0, atol=0.005)  # bounding box centred
    assert (TRUE_GENUS["mug"], TRUE_GENUS["chair"]) == (1, 0)


# ------------------------------------------------------------------------- surface metrics
def test_metrics_follow_their_formulas_on_offset_surfaces():
    """Each point's own copy is its nearest neighbour, so the scores are exact."""
    rng = np.random.default_rng(0)
    directions = rng.normal(size=(4000, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    sphere = 0.5 * directions
    for delta in (0.03, 0.08):  # concentric spheres: every distance is at least delta
        scores = surface_scores((0.5 + delta) * directions, directions, sphere, directions)
        assert scores.chamfer_l1 == pytest.approx(delta, rel=1e-9) and scores.normal_consistency == pytest.approx(1.0)
        assert scores.fscore == (1.0 if delta < 0.05 else 0.0)
    grid = np.stack(np.meshgrid(np.arange(20) * 0.1, np.arange(20) * 0.1, [0.0], indexing="ij"), -1).reshape(-1, 3)
    up, tilted = np.tile([0.0, 0.0, 1.0], (len(grid), 1)), np.tile([math.sin(0.5), 0.0, math.cos(0.5)], (len(grid), 1))
    scores = surface_scores(grid + [0.0, 0.0, 0.02], tilted, grid, up)  # a plane lifted by 0.02, normals tilted
    assert scores.chamfer_l1 == pytest.approx(0.02) and scores.normal_consistency == pytest.approx(math.cos(0.5))
    assert scores.fscore == scores.precision == scores.recall == 1.0


@pytest.mark.parametrize("shape", ["torus", "mug", "chair"])
def test_a_surface_against_itself_and_a_moved_copy(shape):
    """Canonical against canonical (independent samples): Chamfer-L1 at the sampling floor,
    NC near 1 (below it only at sharp edges), F = 1; a copy scaled, shifted and turned
    about z scores the same, since the alignment undoes exactly that."""
    mesh = canonical_mesh(shape)
    scores = score_surface(mesh, shape, match_shape(sample_with_normals(mesh, 1024, seed=3)[0]))
    assert scores.chamfer_l1 < 0.01 and scores.normal_consistency > 0.96 and scores.fscore == 1.0
    moved = turned(mesh, 90.0 if shape != "torus" else 17.0)
    moved.apply_scale(1.6)
    moved.apply_translation((0.3, -0.2, 0.1))
    match = match_shape(sample_with_normals(moved, 1024, seed=3)[0])
    assert match.shape == shape
    again = score_surface(moved, shape, match)
    assert abs(again.chamfer_l1 - scores.chamfer_l1) < 0.002 and again.fscore == 1.0
    assert abs(again.normal_consistency - scores.normal_consistency) < 0.01


def test_a_mug_scored_against_a_cylinder_is_worse():
    mug = canonical_mesh("mug")
    match = match_shape(sample_with_normals(mug, 1024)[0])
    right, wrong = score_surface(mug, "mug", match), score_surface(mug, "cylinder", match)
    assert wrong.chamfer_l1 > 2 * right.chamfer_l1 and wrong.fscore < right.fscore


# ---------------------------------------------------------------------------------- genus
def test_genus_counts_tunnels():
    assert topology(drilled_cube((0.0,))).genus == 1
    two = topology(drilled_cube((-0.2, 0.2)))
    assert two.genus == 2 and two.watertight and two.components == 1


def test_genus_welds_seams_and_flags_open_and_loose_pieces():
    torus = canonical_mesh("torus").copy()
    torus.unmerge_vertices()  # every face its own vertices, as UV seams split them
    assert topology(torus) == topology(canonical_mesh("torus"))
    sphere = canonical_mesh("sphere").copy()
    sphere.update_faces(np.arange(len(sphere.faces)) != 0)  # a missing face: one hole
    opened = topology(sphere)
    assert not opened.watertight and opened.boundary_loops == 1 and opened.genus == 0
    speck = trimesh.creation.box(extents=(0.05, 0.05, 0.05))
    speck.apply_translation((0.0, 0.0, 0.9))
    with_speck = topology(trimesh.util.concatenate([canonical_mesh("torus"), speck]))
    assert with_speck.components == 2 and with_speck.genus == 1 and with_speck.watertight


# ----------------------------------------------------------------------------- Janus count
def test_canonical_mug_has_one_oriented_handle_and_copies_are_flagged():
    mug = canonical_mesh("mug")
    one = count_features(mug, "mug")
    assert (one.count, one.janus, one.missing, one.oriented) == (1, False, False, True)
    assert abs(one.azimuths[0] - 90.0) < 5.0
    back = count_features(turned(mug, 180.0), "mug")  # the handle at -y
    assert (back.count, back.janus, back.oriented) == (1, False, False) and abs(abs(back.azimuths[0]) - 90.0) < 5.0
    two_mesh = two_handled_mug()
    assert topology(two_mesh).genus == 2
    two = count_features(two_mesh, "mug")
    assert (two.count, two.janus, two.oriented) == (2, True, False)
    plain = count_features(canonical_mesh("cylinder"), "mug")  # a mug without a handle
    assert (plain.count, plain.missing, plain.janus, plain.oriented) == (0, True, False, False)


def test_canonical_chair_has_one_oriented_backrest_and_copies_are_flagged():
    chair = canonical_mesh("chair")
    one = count_features(chair, "chair")
    assert (one.count, one.janus, one.missing, one.oriented) == (1, False, False, True)
    assert one.azimuths == [180.0]
    back = count_features(turned(chair, 180.0), "chair")  # the backrest at +x
    assert (back.count, back.oriented) == (1, False)
    assert count_features(turned(chair, 30.0), "chair").oriented  # within 45 degrees of -x
    two = count_features(two_backrest_chair(), "chair")
    assert (two.count, two.janus, two.oriented) == (2, True, False)
    seat_only = count_features(canonical_mesh("cube"), "chair")
    assert seat_only.missing


# ---------------------------------------------------------------------- results and tables
def coloured(mesh: trimesh.Trimesh, rgb) -> trimesh.Trimesh:
    mesh = mesh.copy()
    mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=np.tile((np.array(rgb) * 255).astype(np.uint8), (len(mesh.vertices), 1)))
    return mesh


def test_evaluation_reports_surface_genus_and_features_and_tables_give_sample_sizes(tmp_path, capsys):
    from dream3d.eval import evaluate_mesh
    from dream3d.eval.__main__ import main
    from dream3d.eval.batch import BatchReport

    mug = evaluate_mesh(coloured(canonical_mesh("mug"), COLOURS["orange"]), "an orange mug")
    assert mug.passed and mug.chamfer_l1 < 0.01 and mug.normal_consistency > 0.98 and mug.fscore == 1.0
    assert (mug.genus, mug.true_genus, mug.genus_correct, mug.watertight) == (1, 1, True, True)
    assert (mug.feature, mug.feature_count, mug.janus, mug.missing, mug.oriented) == ("handle", 1, False, False, True)
    janus = dataclasses.replace(mug, prompt="a red mug", target_colour="red", feature_count=2, janus=True, oriented=False)
    held_out = dataclasses.replace(mug, prompt="a purple mug", target_colour="purple", held_out=True, genus=3,
                                   genus_correct=False)
    cube = dataclasses.replace(mug, prompt="a red cube", target_shape="cube", true_genus=0, genus=0, feature=None,
                               feature_count=None, feature_azimuths=None, janus=None, missing=None, oriented=None)
    report = BatchReport(results=[mug, janus, held_out, cube], failures={"a blue chair": "launch exited with code 1"})
    report.write(tmp_path / "new")
    payload = json.loads((tmp_path / "new" / "eval.json").read_text())
    seen, held = payload["summary"]["seen"], payload["summary"]["held_out"]
    assert seen["n"] == 3 and seen["genus"] == {"n": 3, "rate": 1.0} and seen["features"]["n"] == 2
    assert held["genus"] == {"n": 1, "rate": 0.0} and payload["summary"]["janus"]["n"] == 3
    assert payload["summary"]["janus"]["janus"] == pytest.approx(1 / 3)
    assert payload["summary"]["janus"]["by_shape"]["chair"]["n"] == 0
    table = (tmp_path / "new" / "eval.md").read_text()
    assert "| an orange mug | seen | mug | orange | " in table and "| 1 (1) | 1 handle | oriented |" in table
    assert "| 2 handles | Janus |" in table and "| 3 ✗ (1) |" in table
    assert "Janus rate 33% of 3" in table and "genus right 100% of 3" in table and "held-out (1 prompt): pass 100% of 1" in table
    old = {"prompt": "an orange mug", "target_shape": "mug", "held_out": False, "predicted_shape": "mug",
           "predicted_colour": "orange", "chamfer": 0.02, "shape_correct": True, "colour_correct": True, "passed": True}
    (tmp_path / "old.json").write_text(json.dumps({"results": [old], "failures": {}}))  # before the surface metrics
    assert main(["--compare", str(tmp_path / "old.json"), str(tmp_path / "new"), "--labels", "v1", "v2",
                 "--output-dir", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "mug and chair prompts, v2: Janus rate 33% of 3" in out and "mug and chair prompts, v1" not in out


def test_a_run_of_a_six_shape_prior_is_matched_among_its_shapes(tmp_path):
    """A cylinder-like asset of the version-1 prior is never called a mug: its run's prior
    knows no "mug"."""
    from dream3d.eval.evaluate import known_shapes

    prior = tmp_path / "six-shape-prior"  # the version-1 prior's words
    prior.mkdir()
    (prior / "model_index.json").write_text("{}")
    words = ["a", "object", "view", "front", "side", "back", "overhead", "red", "orange", "yellow", "green", "blue",
             "purple", "sphere", "cube", "cylinder", "cone", "torus", "pyramid"]
    (prior / "vocabulary.json").write_text(json.dumps({"words": words}))
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(f"system:\n  prior:\n    pretrained: {prior}\n")
    assert known_shapes(run) == ("sphere", "cube", "cylinder", "cone", "torus", "pyramid")
    (run / "config.yaml").write_text("system:\n  prior:\n    pretrained: extern/priors/dream3d-shapes-v2\n")
    assert known_shapes(run) == SHAPES
    (run / "config.yaml").write_text("system:\n  prior:\n    pretrained: stabilityai/stable-diffusion-2-1-base\n")
    assert "mug" in known_shapes(run)  # an open vocabulary: every shape
