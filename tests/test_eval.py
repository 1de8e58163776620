"""The ground-truth evaluator classifies canonical primitives, noisy copies and colours."""
from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from dream3d.eval import evaluate_mesh, evaluate_run
from dream3d.eval.canonical import canonical_mesh
from dream3d.eval.colour import nearest_colour
from dream3d.export.formats import to_y_up
from dream3d.prior.catalog import COLOURS, SHAPES


def coloured(mesh: trimesh.Trimesh, rgb) -> trimesh.Trimesh:
    mesh = mesh.copy()
    mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=np.tile((np.array(rgb) * 255).astype(np.uint8), (len(mesh.vertices), 1)))
    return mesh


def perturbed(mesh: trimesh.Trimesh, seed: int) -> trimesh.Trimesh:
    """Rotated about z, scaled, shifted, with noisy vertices (a subdivided copy)."""
    rng = np.random.default_rng(seed)
    mesh = mesh.subdivide_to_size(0.05)
    angle = rng.uniform(0, 2 * np.pi)
    mesh.apply_transform(trimesh.transformations.rotation_matrix(angle, (0, 0, 1)))
    mesh.apply_scale(rng.uniform(0.6, 1.4))
    mesh.apply_translation(rng.normal(0, 0.05, 3))
    mesh.vertices += rng.normal(0, 0.01, mesh.vertices.shape)
    return mesh


@pytest.mark.parametrize("shape", SHAPES)
def test_canonical_and_noisy_primitives_are_recognised(shape):
    """The canonical mesh scores at the dense sampling floor (the 1024-point match distance
    of two independent samples is about 0.02 for the mug and the chair), a noisy copy worse."""
    colour = list(COLOURS)[SHAPES.index(shape) % len(COLOURS)]
    exact = evaluate_mesh(coloured(canonical_mesh(shape), COLOURS[colour]), f"a {colour} {shape}")
    assert exact.passed and exact.chamfer < 0.03 and exact.chamfer_l1 < 0.01
    noisy = evaluate_mesh(coloured(perturbed(canonical_mesh(shape), SHAPES.index(shape)), COLOURS[colour]), f"a {colour} {shape}")
    assert noisy.predicted_shape == shape and noisy.passed
    assert noisy.chamfer_l1 > exact.chamfer_l1


def test_wrong_shape_fails_and_reports_the_nearest():
    result = evaluate_mesh(coloured(canonical_mesh("cube"), COLOURS["red"]), "a red sphere")
    assert result.predicted_shape == "cube" and not result.shape_correct and not result.passed
    assert result.chamfer > 0.02


def test_colour_names_follow_the_palette_hue():
    for name, rgb in COLOURS.items():
        assert nearest_colour(np.array(rgb) * 0.7)[0] == name  # shading darkens, hue stays
    assert nearest_colour(np.array([0.5, 0.5, 0.52]))[0] == "grey"


def test_textured_glb_is_read_in_world_frame(tmp_path):
    """A GLB written +Y up (as the exporter does) is evaluated back in the +Z-up world."""
    cone = canonical_mesh("cone").copy()
    cone.vertices = to_y_up(np.asarray(cone.vertices))
    from PIL import Image

    uv = np.random.default_rng(0).uniform(0.1, 0.9, (len(cone.vertices), 2))
    image = Image.new("RGB", (8, 8), tuple(int(c * 255) for c in COLOURS["yellow"]))
    cone.visual = trimesh.visual.TextureVisuals(uv=uv, image=image)
    (tmp_path / "mesh").mkdir()
    cone.export(tmp_path / "mesh" / "model.glb")
    result = evaluate_run(tmp_path, "a yellow cone")
    assert result.predicted_shape == "cone" and result.predicted_colour == "yellow" and result.held_out


def test_prior_sample_check_recognises_true_renders():
    """Dataset renders (what a perfect prior would sample) are classified right."""
    import torch

    from dream3d.cameras import Cameras
    from dream3d.eval.prior_samples import classify_shape, silhouette_bank, silhouettes
    from dream3d.prior.shapes_data import render

    bank = silhouette_bank("side", per_shape=24, seed=1)
    cameras = Cameras.from_spherical(torch.full((6,), 25.0), torch.full((6,), 60.0), torch.full((6,), 2.5), 40.0, 64, 64)
    images, _ = render(list(SHAPES), list(COLOURS), cameras, supersample=1)
    for shape, colour, image, mask in zip(SHAPES, COLOURS, images, silhouettes(images)):
        assert classify_shape(mask, bank) == shape
        assert nearest_colour(image.permute(1, 2, 0)[mask].mean(0).numpy())[0] == colour


def test_inner_shells_do_not_confuse_the_shape():
    """A sphere holding a smaller closed shell inside (as a NeRF isosurface can) is a sphere."""
    outer = coloured(canonical_mesh("sphere"), COLOURS["green"])
    inner = coloured(trimesh.creation.box(extents=(0.5, 0.5, 0.5)), COLOURS["green"])
    result = evaluate_mesh(trimesh.util.concatenate([outer, inner]), "a green sphere")
    assert result.predicted_shape == "sphere" and result.passed


def test_compare_puts_two_batches_side_by_side(tmp_path, capsys):
    """``--compare`` joins two batches' eval.json on the prompt and scores each split per method."""
    from dream3d.eval.__main__ import main
    from dream3d.eval.batch import BatchReport

    cube, sphere = canonical_mesh("cube"), canonical_mesh("sphere")
    good = BatchReport(results=[evaluate_mesh(coloured(cube, COLOURS["red"]), "a red cube"),
                                evaluate_mesh(coloured(cube, COLOURS["blue"]), "a blue cube")])
    bad = BatchReport(results=[evaluate_mesh(coloured(sphere, COLOURS["red"]), "a red cube")],
                      failures={"a blue cube": "launch exited with code 1"})
    good.write(tmp_path / "sds")
    bad.write(tmp_path / "vsd")
    out = tmp_path / "table"
    code = main(["--compare", str(tmp_path / "sds" / "eval.json"), str(tmp_path / "vsd"), "--labels", "SDS", "VSD",
                 "--output-dir", str(out)])
    assert code == 0
    table = (out / "compare.md").read_text()
    red_row = next(line for line in table.splitlines() if line.startswith("| a red cube"))
    assert red_row.split(" | ")[1:] == ["seen", "cube", "red", "0.000", "yes", "sphere ✗", "red"] + red_row.split(" | ")[8:]
    blue_row = next(line for line in table.splitlines() if line.startswith("| a blue cube"))
    assert "held-out" in blue_row and blue_row.rstrip(" |").endswith("- | - | - | no")
    summary = json.loads((out / "compare.json").read_text())
    assert summary["seen"]["SDS"]["pass_rate"] == 1.0 and summary["seen"]["VSD"]["pass_rate"] == 0.0
    assert summary["held_out"]["VSD"]["failed_runs"] == 1 and summary["held_out"]["SDS"]["shape_accuracy"] == 1.0
    assert "seen, VSD: 0% pass" in capsys.readouterr().out


def test_compare_joins_seeded_batches_on_prompt_and_seed_with_janus_and_time(tmp_path, capsys):
    """Batches run at several seeds are joined per (prompt, seed): a two-handled mug at seed 1 is
    one Janus asset of two for that method, and the mean time per asset is reported."""
    import dataclasses

    from dream3d.eval.__main__ import main
    from dream3d.eval.batch import BatchReport
    from test_eval_v2 import two_handled_mug

    mug = coloured(canonical_mesh("mug"), COLOURS["red"])
    janus = coloured(two_handled_mug(), COLOURS["red"])

    def run(mesh, seed, seconds):
        return dataclasses.replace(evaluate_mesh(mesh, "a red mug"), seed=seed, seconds=seconds)

    BatchReport(results=[run(mug, 0, 10.0), run(mug, 1, 30.0)]).write(tmp_path / "mv")
    BatchReport(results=[run(mug, 0, 5.0), run(janus, 1, 7.0)]).write(tmp_path / "sds")
    out = tmp_path / "table"
    assert main(["--compare", str(tmp_path / "mv"), str(tmp_path / "sds"), "--labels", "MV", "SDS",
                 "--output-dir", str(out)]) == 0
    table = (out / "compare.md").read_text()
    assert any(line.startswith("| a red mug (seed 0) |") for line in table.splitlines())
    assert any(line.startswith("| a red mug (seed 1) |") for line in table.splitlines())
    summary = json.loads((out / "compare.json").read_text())
    assert summary["janus"]["MV"]["n"] == 2 and summary["janus"]["MV"]["janus"] == 0.0
    assert summary["janus"]["SDS"]["janus"] == 0.5 and summary["janus"]["SDS"]["oriented"] == 0.5
    assert summary["seen"]["MV"]["mean_seconds"] == {"value": 20.0, "n": 2}
    assert "20 s per asset (2 timed)" in capsys.readouterr().out
    sds_row = next(line for line in table.splitlines() if line.startswith("| SDS | 2 |"))
    assert "| 50% of 2 |" in sds_row and sds_row.rstrip(" |").endswith("| 6")  # Janus 1 of 2; 6 s per asset


def test_compare_refuses_a_file_that_is_not_a_batch(tmp_path, capsys):
    from dream3d.eval.__main__ import main

    (tmp_path / "x.json").write_text("{}")
    assert main(["--compare", str(tmp_path / "x.json"), str(tmp_path / "x.json")]) == 2
    assert "not a batch evaluation" in capsys.readouterr().err


def test_an_interrupted_run_stops_the_batch(tmp_path, monkeypatch, capsys):
    """Ctrl-C in one run (the service returns 130 after checkpointing) ends the batch; later prompts never start."""
    import dream3d.service
    from dream3d.eval.__main__ import main
    from dream3d.exit_codes import EXIT_INTERRUPTED

    launched = []

    def interrupted_train(config, run_dir, resume=False, overwrite=False):
        launched.append(config.system.prompt)
        return EXIT_INTERRUPTED

    monkeypatch.setattr(dream3d.service, "train", interrupted_train)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red cube\na blue sphere\n")
    code = main(["--batch", str(prompts), "--config", "configs/dreamfusion.yaml", "--output-dir", str(tmp_path / "out")])
    assert code == 130 and launched == ["a red cube"]
    assert "run the same command again" in capsys.readouterr().err


def test_only_faces_seen_from_outside_are_scored():
    """Of two concentric spheres in one mesh, the views see the outer one (nearly all of it)
    and none of the inner one, which a NeRF's unseen interior can leave behind."""
    from dream3d.eval.visibility import visible_faces

    outer = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    inner = trimesh.creation.icosphere(subdivisions=3, radius=0.3)
    both = trimesh.util.concatenate([outer, inner])
    seen = visible_faces(both)
    n_outer = len(outer.faces)
    assert seen.max() < n_outer  # no inner face
    assert len(seen) > 0.95 * n_outer


def test_batch_with_seeds_runs_each_prompt_per_seed_and_rates_over_both(tmp_path, monkeypatch, capsys):
    """``--batch F --seeds 0 1``: one run per prompt and seed, each with its seed set, and the
    rates are over prompts x seeds, with the seed in every row."""
    import dream3d.service
    from dream3d.eval.__main__ import main

    launched = []

    def fake_train(config, run_dir, resume=False, overwrite=False):
        launched.append((config.system.prompt, config.seed, run_dir.parent.name))
        shape = "cube" if config.seed == 0 else "sphere"  # seed 1 makes the wrong shape
        mesh = coloured(canonical_mesh(shape), COLOURS["red"])
        mesh.vertices = to_y_up(np.asarray(mesh.vertices))
        (run_dir / "mesh").mkdir(parents=True)
        mesh.export(run_dir / "mesh" / "model.glb")
        return 0

    monkeypatch.setattr(dream3d.service, "train", fake_train)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red cube\n")
    out = tmp_path / "out"
    assert main(["--batch", str(prompts), "--config", "configs/dreamgaussian-fast.yaml", "--seeds", "0", "1",
                 "--output-dir", str(out)]) == 0
    assert launched == [("a red cube", 0, "seed0"), ("a red cube", 1, "seed1")]
    report = json.loads((out / "eval.json").read_text())
    assert [(r["seed"], r["passed"]) for r in report["results"]] == [(0, True), (1, False)]
    assert report["summary"]["seen"]["n"] == 2 and report["summary"]["seen"]["pass_rate"] == 0.5
    table = (out / "eval.md").read_text()
    assert "| prompt | seed | split |" in table and "| a red cube | 1 | seen | sphere ✗ |" in table
    assert "- seen (2 runs): pass 50% of 2" in table
