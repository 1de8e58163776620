"""ProlificDreamer's stage list: VSD into the NeRF, SDS on the same NeRF (its geometry stage), VSD
on the texture; and the refusal of a geometry stage that does not fit."""
from __future__ import annotations

from pathlib import Path

import torch
from engine_steps import one_step

from dream3d.cli import main
from dream3d.guidance.sds import SDS
from dream3d.guidance.vsd import VSD
from dream3d.methods import build_recipe, load_config
from dream3d.recipe import RecipeRun

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs/prolificdreamer.yaml"
SMALL = ["system.camera.height=16", "system.camera.width=16", "system.nerf.initial_shape.steps=5",
         "system.nerf.encoding.dense_resolution=12"]


def test_the_geometry_stage_goes_on_training_the_nerf_under_sds():
    config = load_config(CONFIG, ["trainer.max_steps=1000", "system.texture_steps=200", "system.geometry_fraction=0.375"])
    recipe = build_recipe(config)
    assert [(s.name, s.steps, s.guidance, s.shares) for s in recipe.stages] == [
        ("nerf", 500, "distill", ""), ("geometry", 300, "geometry", "nerf"), ("texture", 200, "distill", "")]
    nerf_only = build_recipe(load_config(CONFIG, ["trainer.max_steps=1000", "system.geometry_fraction=0.375",
                                                  "system.stage=nerf"]))
    assert [(s.name, s.steps) for s in nerf_only.stages] == [("nerf", 625), ("geometry", 375)]
    plain = build_recipe(load_config(CONFIG, ["system.geometry_fraction=0"]))
    assert [s.name for s in plain.stages] == ["nerf", "texture"] and set(plain.guidances) == {"distill"}


def test_geometry_steps_are_scored_by_sds_and_move_the_same_nerf(tiny_prior_dir, one_thread):
    config = load_config(CONFIG, [f"system.prior.pretrained={tiny_prior_dir}", "trainer.max_steps=8",
                                  "system.texture_steps=3", "system.geometry_fraction=0.4", *SMALL])
    torch.manual_seed(0)
    run = RecipeRun(build_recipe(config), torch.device("cpu"))
    assert isinstance(run.guidances["distill"], VSD) and isinstance(run.guidances["geometry"], SDS)
    assert run.guidances["geometry"].config.space == "latent+image"
    nerf = run.representations["nerf"]
    assert run.representations["geometry"] is nerf
    seen = {}
    for step in range(5):  # steps 0-2: VSD; 3-4: SDS on the same field and its optimizers
        before = [p.detach().clone() for p in nerf.parameters()]
        stats, optimizers = one_step(run, step)
        moved = any(not torch.equal(a, b) for a, b in zip(before, nerf.parameters()))
        seen[step] = ("lora" in stats, moved, sorted(k for k in optimizers if not k.startswith("guidance")))
    assert [seen[s][0] for s in range(5)] == [True, True, True, False, False]  # the LoRA trains under VSD only
    assert all(seen[s][1] for s in range(5))
    assert seen[2][2] == seen[3][2] and all(k.startswith("nerf.") for k in seen[3][2])


def test_a_geometry_stage_that_does_not_fit_is_refused_before_any_work(tmp_path, capsys):
    code = main(["--config", str(CONFIG), "--output-dir", str(tmp_path / "run"), "system.geometry_fraction=1.0"])
    err = capsys.readouterr().err
    assert code == 2 and "system.geometry_fraction (1.0)" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
