"""Texturing a given mesh (``method: texture``) and ProlificDreamer's stages, end to end with
the tiny prior through ``dream3d.cli.main``; bad meshes are refused with exit code 2."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from dream3d.cli import main
from dream3d.exit_codes import EXIT_USER_ERROR
from dream3d.export import ExportConfig
from dream3d.scene.textured_mesh import MeshInputError, TexturedMeshScene, normalise
from dream3d.representations.mesh_input import prepare_input_mesh
from dream3d.representations.textured_mesh import TextureStageConfig

REPO = Path(__file__).resolve().parents[1]
FAST = [
    "--device", "cpu", "trainer.progress_bar=false", "trainer.video=false", "trainer.preview_every=0",
    "system.prompt_processing.use_cache=false", "export.texture_size=64", "export.preview=false",
]


def texture_args(tiny_prior_dir, mesh, out, *extra):
    return [
        "--config", str(REPO / "configs" / "texture.yaml"), "--mesh", str(mesh), "--prompt", "a red box",
        "--output-dir", str(out), *FAST, f"system.prior.pretrained={tiny_prior_dir}", "trainer.max_steps=3",
        "system.texture.camera.height=16", "system.texture.camera.width=16", "system.texture.lr=0.2", *extra,
    ]


def test_texture_a_box_writes_a_textured_glb_in_the_original_frame(tiny_prior_dir, tmp_path):
    box = trimesh.creation.box(extents=(0.6, 1.0, 1.6))
    box.apply_translation((5.0, -2.0, 3.0))  # far from the origin and not unit-sized
    box.export(tmp_path / "box.obj")
    assert main(texture_args(tiny_prior_dir, tmp_path / "box.obj", tmp_path / "run")) == 0

    mesh_dir = tmp_path / "run" / "mesh"
    glb = trimesh.load(mesh_dir / "model.glb", force="mesh")
    assert glb.visual.kind == "texture"
    texture = np.asarray(glb.visual.material.baseColorTexture.convert("RGB"), dtype=np.float32)
    assert texture.shape == (64, 64, 3) and texture.std() > 0.5  # not a constant image
    obj = trimesh.load(mesh_dir / "model.obj", force="mesh", process=False)
    np.testing.assert_allclose(obj.bounds, box.bounds, atol=1e-4)  # the input's own coordinates
    assert np.asarray(Image.open(mesh_dir / "texture.png")).std() > 0.5


def _write_bad_meshes(root: Path) -> dict[str, Path]:
    (root / "garbage.glb").write_bytes(b"\x00\x01 not a mesh")
    trimesh.PointCloud(np.random.default_rng(0).random((20, 3))).export(root / "points.ply")
    (root / "nan.obj").write_text("v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n")
    (root / "flat.obj").write_text("v 1 1 1\nv 1 1 1\nv 1 1 1\nf 1 2 3\n")
    return {
        "does not exist": root / "missing.obj",
        "Could not read": root / "garbage.glb",
        "has no faces": root / "points.ply",
        "NaN or infinite": root / "nan.obj",
        "zero size": root / "flat.obj",
    }


def test_bad_meshes_exit_with_code_2(tiny_prior_dir, tmp_path, capsys):
    for message, path in _write_bad_meshes(tmp_path).items():
        code = main(texture_args(tiny_prior_dir, path, tmp_path / "run"))
        assert code == EXIT_USER_ERROR, path
        assert message in capsys.readouterr().err, path
    assert not (tmp_path / "run").exists()  # refused before any output was written


def test_texture_needs_a_mesh(tiny_prior_dir, tmp_path, capsys):
    args = [a for a in texture_args(tiny_prior_dir, "x", tmp_path / "run") if a not in ("--mesh", "x")]
    assert main(args) == EXIT_USER_ERROR
    assert "--mesh" in capsys.readouterr().err


def test_huge_mesh_is_decimated_with_a_warning(tmp_path, caplog):
    trimesh.creation.icosphere(subdivisions=3).export(tmp_path / "ball.ply")  # 1280 faces
    config = TextureStageConfig(max_faces=300)
    with caplog.at_level(logging.WARNING):
        asset = prepare_input_mesh(str(tmp_path / "ball.ply"), config, ExportConfig(texture_size=64))
        mesh, texture = asset.mesh, asset.texture
    assert any("decimating" in r.message for r in caplog.records if r.levelno == logging.WARNING)
    assert 0 < len(mesh.faces) <= 300 and texture is None
    assert np.linalg.norm(mesh.vertices, axis=1).max() == pytest.approx(config.radius, rel=1e-4)


def test_own_uvs_and_texture_are_kept(tmp_path):
    box = trimesh.creation.box()
    uv = np.random.default_rng(0).random((len(box.vertices), 2))
    image = Image.fromarray(np.full((8, 8, 3), (200, 40, 30), dtype=np.uint8))
    trimesh.Trimesh(box.vertices, box.faces, visual=trimesh.visual.TextureVisuals(uv=uv, image=image),
                    process=False).export(tmp_path / "painted.glb")
    asset = prepare_input_mesh(str(tmp_path / "painted.glb"), TextureStageConfig(), ExportConfig(texture_size=16))
    mesh, texture = asset.mesh, asset.texture
    np.testing.assert_allclose(mesh.uvs, uv, atol=1e-6)
    torch.testing.assert_close(texture[0, 0], torch.tensor([200, 40, 30]) / 255.0)


@pytest.mark.parametrize("up_axis", ["y", "z"])
def test_frame_round_trip_to_file_coordinates(up_axis):
    points = np.random.default_rng(1).normal(size=(50, 3)).astype(np.float32) * 3 + 7
    unit, frame = normalise(points, up_axis, radius=0.7)
    assert np.linalg.norm(unit, axis=1).max() == pytest.approx(0.7, rel=1e-5)
    from dream3d.export.formats import to_y_up

    np.testing.assert_allclose(to_y_up(frame.export_points(unit)), points, atol=1e-4)
    if up_axis == "y":  # file +y becomes world +z
        assert np.allclose(frame.file_to_world @ np.array([0, 1, 0]), [0, 0, 1])


def test_scene_checkpoint_resizes_the_mesh(tmp_path):
    trimesh.creation.box().export(tmp_path / "box.obj")
    asset = prepare_input_mesh(str(tmp_path / "box.obj"), TextureStageConfig(), ExportConfig(texture_size=16))
    mesh, frame = asset.mesh, asset.frame
    scene = TexturedMeshScene(16)
    scene.set_mesh(mesh, frame)
    fresh = TexturedMeshScene(16)
    assert not fresh.has_mesh
    fresh.load_state_dict(scene.state_dict())
    assert fresh.has_mesh and torch.equal(fresh.faces, scene.faces) and torch.equal(fresh.uvs, scene.uvs)
    with pytest.raises(MeshInputError):
        prepare_input_mesh(str(tmp_path / "nope.obj"), TextureStageConfig(), ExportConfig())


def test_prolificdreamer_runs_nerf_then_texture_in_one_command(tiny_prior_dir, tmp_path):
    args = [
        "--config", str(REPO / "configs" / "prolificdreamer.yaml"), "--prompt", "a red cube",
        "--output-dir", str(tmp_path / "run"), *FAST, f"system.prior.pretrained={tiny_prior_dir}",
        "trainer.max_steps=4", "system.texture_steps=2", "system.camera.height=16", "system.camera.width=16",
        "system.texture.camera.height=16", "system.texture.camera.width=16", "export.resolution=32",
        "export.min_auto_threshold=0.0", "trainer.checkpoint_every=3",
    ]
    assert main(args) == 0
    state = torch.load(tmp_path / "run" / "ckpts" / "last.ckpt", weights_only=False)
    assert set(state["recipe"]["stages"]) == {"nerf", "texture"} and {"lora", "camera"} <= set(state["recipe"]["guidances"]["distill"]["modules"])
    assert state["recipe"]["stages"]["texture"]["representation"]["scene.faces"].shape[0] > 0  # it ran on the NeRF's mesh
    glb = trimesh.load(tmp_path / "run" / "mesh" / "model.glb", force="mesh")
    assert glb.visual.kind == "texture" and len(glb.faces) > 0


def test_prolificdreamer_texture_stage_alone_on_a_given_mesh(tiny_prior_dir, tmp_path):
    trimesh.creation.icosphere(subdivisions=1, radius=2.0).export(tmp_path / "ball.obj")
    args = [
        "--config", str(REPO / "configs" / "prolificdreamer.yaml"), "--stage", "texture",
        "--mesh", str(tmp_path / "ball.obj"), "--prompt", "a red ball", "--output-dir", str(tmp_path / "run"),
        *FAST, f"system.prior.pretrained={tiny_prior_dir}", "trainer.max_steps=2",
        "system.texture.camera.height=16", "system.texture.camera.width=16",
    ]
    assert main(args) == 0
    state = torch.load(tmp_path / "run" / "ckpts" / "last.ckpt", weights_only=False)
    assert set(state["recipe"]["stages"]) == {"texture"} and "lora" in state["recipe"]["guidances"]["distill"]["modules"]
    obj = trimesh.load(tmp_path / "run" / "mesh" / "model.obj", force="mesh", process=False)
    assert np.linalg.norm(obj.vertices, axis=1).max() == pytest.approx(2.0, rel=1e-3)


@pytest.mark.parametrize("override,message", [
    (["--stage", "geometry"], "expected one of ['all', 'nerf', 'texture']"),
    (["system.texture_steps=900"], "system.texture_steps"),
])
def test_prolificdreamer_stage_settings_are_checked(tmp_path, capsys, override, message):
    args = ["--config", str(REPO / "configs" / "prolificdreamer.yaml"), "--output-dir", str(tmp_path / "run"),
            *FAST, *override]
    assert main(args) == EXIT_USER_ERROR
    assert message in capsys.readouterr().err
