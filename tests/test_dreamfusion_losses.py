"""DreamFusion's loss terms through the system: the grid smoothness prior and its refusal."""
from __future__ import annotations

from pathlib import Path

import torch

from dream3d.cli import main
from dream3d.methods import build_recipe, load_config
from dream3d.recipe import RecipeRun

REPO = Path(__file__).resolve().parents[1]
SMALL = ["system.camera.height=16", "system.camera.width=16", "system.nerf.initial_shape.steps=5",
         "system.nerf.encoding.dense_resolution=12"]


def first_step_loss(tiny_prior_dir: Path, grid_tv: float) -> tuple[float, float]:
    """Loss of step 0 and the grid's TV, from the same seed (so the SDS part is the same), through the
    recipe engine: the NeRF stage weights its ``grid_tv`` regulariser by ``system.loss.grid_tv``."""
    config = load_config(REPO / "configs/dreamfusion.yaml",
                         [f"system.prior.pretrained={tiny_prior_dir}", f"system.loss.grid_tv={grid_tv}", *SMALL])
    torch.manual_seed(0)
    run = RecipeRun(build_recipe(config), torch.device("cpu"))
    torch.manual_seed(1)
    loss, _ = run.training_step(0)
    return float(loss.detach()), float(run.representations["nerf"].field.encoding.total_variation().detach())


def test_grid_tv_adds_its_weight_times_the_grid_total_variation(tiny_prior_dir, one_thread):
    plain, tv = first_step_loss(tiny_prior_dir, 0.0)
    weighted, tv_again = first_step_loss(tiny_prior_dir, 1000.0)
    assert tv == tv_again and tv > 0
    assert abs((weighted - plain) - 1000.0 * tv) < 1e-3 * max(1.0, 1000.0 * tv)


def test_grid_tv_with_a_hash_grid_is_refused_with_a_hint(tiny_prior_dir, tmp_path, capsys):
    code = main(["--config", str(REPO / "configs/dreamfusion.yaml"), "--output-dir", str(tmp_path / "run"),
                 f"system.prior.pretrained={tiny_prior_dir}", "system.nerf.encoding.type=hashgrid",
                 "system.loss.grid_tv=1.0", "trainer.max_steps=1", *SMALL])
    err = capsys.readouterr().err
    assert code == 2
    assert "system.loss.grid_tv=0" in err and "Traceback" not in err
