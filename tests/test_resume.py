"""Every method, interrupted at about 30% and resumed, ends bit-identical to an uninterrupted
run: the same checkpoint tensors (densifier statistics, LoRA, optimizers included) and the
same exported mesh files. Driven through ``launch.py``'s entry point with the tiny prior."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import trimesh

from dream3d.cli import main
from dream3d.exit_codes import EXIT_INTERRUPTED

REPO = Path(__file__).resolve().parents[1]
COMMON = [
    "trainer.progress_bar=false", "trainer.video=false",
    "trainer.preview_every=0", "export.texture_size=64", "export.resolution=32", "export.preview=false",
]
METHODS = {
    "dreamfusion": (["trainer.max_steps=10", "system.camera.height=16", "system.camera.width=16"], 3),
    # 3 VSD NeRF steps, 2 SDS geometry steps on the same NeRF (paused between them), 3 texture steps.
    "prolificdreamer": (["trainer.max_steps=8", "system.texture_steps=3", "system.geometry_fraction=0.4",
                         "system.camera.height=16", "system.camera.width=16", "system.texture.camera.height=16",
                         "system.texture.camera.width=16"], 4),
    "dreamgaussian-fast": (["trainer.max_steps=10", "system.refine_steps=3", "system.gaussians.num_points=300",
                            "system.resolutions=[16,16,16]", "system.texture.camera.height=16", "system.texture.camera.width=16",
                            "system.backproject.resolution=32", "system.gaussians.densify.refine_start_iter=1",
                            "system.gaussians.densify.refine_every=4", "system.gaussians.densify.refine_stop_iter=6",
                            "system.gaussians.densify.grow_grad2d=0.06", "system.sdedit.ddim_steps=3"], 3),
    "texture": (["trainer.max_steps=6", "system.texture.camera.height=16", "system.texture.camera.width=16"], 2),
}


def tensors(tree, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor in a nested checkpoint, by its path."""
    found: dict[str, torch.Tensor] = {}
    if torch.is_tensor(tree):
        found[prefix] = tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            found.update(tensors(value, f"{prefix}/{key}"))
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            found.update(tensors(value, f"{prefix}/{i}"))
    return found


@pytest.mark.parametrize("method", sorted(METHODS))
def test_interrupted_and_resumed_run_is_bit_identical(method, tiny_prior_dir, tmp_path, one_thread):
    extra, pause = METHODS[method]
    flags = ["--config", str(REPO / "configs" / f"{method}.yaml"), "--device", "cpu", "--prompt", "a red cube"]
    if method == "texture":
        trimesh.creation.box(extents=(0.6, 1.0, 1.6)).export(tmp_path / "box.obj")
        flags += ["--mesh", str(tmp_path / "box.obj")]
    overrides = [*COMMON, f"system.prior.pretrained={tiny_prior_dir}", *extra]
    straight, paused = tmp_path / "straight", tmp_path / "paused"
    assert main([*flags, "--output-dir", str(straight), *overrides]) == 0
    assert main([*flags, "--output-dir", str(paused), *overrides, f"trainer.pause_at_step={pause}"]) == EXIT_INTERRUPTED
    assert not (paused / "mesh").exists()
    assert main(["--resume", str(paused)]) == 0

    a = torch.load(straight / "ckpts/last.ckpt", weights_only=False)
    b = torch.load(paused / "ckpts/last.ckpt", weights_only=False)
    assert a["recipe"]["step"] == b["recipe"]["step"] == int(extra[0].split("=")[1])
    ta, tb = tensors(a["recipe"]), tensors(b["recipe"])
    assert ta.keys() == tb.keys() and len(ta) > 5
    for key in ta:
        assert torch.equal(ta[key], tb[key]), f"{method}: {key} differs after resume"
    if method == "dreamgaussian":  # the densifier's statistics (paused between refinements) are state
        assert any("_extra_state" in key for key in ta)
        assert ta["/stages/gaussians/representation/scene.params.means"].shape[0] > 300  # it did densify
    for name in ("model.obj", "texture.png"):
        assert (straight / "mesh" / name).read_bytes() == (paused / "mesh" / name).read_bytes(), f"{method}: {name}"
