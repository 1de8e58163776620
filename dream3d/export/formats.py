"""Mesh files: ``model.obj`` + ``model.mtl`` + ``texture.png``, and ``model.glb``.

dream3d's world is right-handed with +z up; files use the usual viewer convention,
right-handed with +y up. The conversion is a rotation of -90 degrees about x,
``(x, y, z) -> (x, z, -y)`` (determinant +1, so handedness and winding are kept).
UVs follow the OBJ convention (v up); trimesh flips them for glTF.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image
from trimesh.exchange.obj import export_obj

from dream3d.atomic import atomic_path, write_bytes, write_text
from dream3d.export.types import UVMesh

Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]], dtype=np.float32)
"""Rotation taking dream3d world coordinates (+z up) to file coordinates (+y up)."""

MATERIAL_NAME = "dream3d_material"


def to_y_up(points: np.ndarray) -> np.ndarray:
    """World ``[N,3]`` (+z up) -> file ``[N,3]`` (+y up): ``(x, y, z) -> (x, z, -y)``."""
    return (points @ Z_UP_TO_Y_UP.T).astype(np.float32)


def from_y_up(points: np.ndarray) -> np.ndarray:
    """File ``[N,3]`` (+y up) -> world ``[N,3]`` (+z up): ``(x, y, z) -> (x, -z, y)``."""
    return (points @ Z_UP_TO_Y_UP).astype(np.float32)


def texture_to_uint8(texture: np.ndarray) -> np.ndarray:
    """``[S,S,3]`` floats in [0,1] -> ``[S,S,3]`` uint8."""
    return (np.clip(texture, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _trimesh(mesh: UVMesh, texture: np.ndarray) -> trimesh.Trimesh:
    """The mesh in file coordinates, with a PBR material whose base colour is ``texture``."""
    material = trimesh.visual.material.PBRMaterial(
        name=MATERIAL_NAME,
        baseColorTexture=Image.fromarray(texture),
        baseColorFactor=[255, 255, 255, 255],
        metallicFactor=0.0,
        roughnessFactor=1.0,
    )
    return trimesh.Trimesh(
        vertices=to_y_up(mesh.vertices),
        faces=mesh.faces,
        vertex_normals=to_y_up(mesh.normals),
        visual=trimesh.visual.TextureVisuals(uv=mesh.uvs, material=material),
        process=False,
    )


def write_png(path: Path, image: np.ndarray) -> None:
    """Write an ``[H,W,C]`` uint8 image as PNG, atomically."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    write_bytes(path, buffer.getvalue())


def mtl_text(texture_name: str) -> str:
    """A material with white diffuse (so viewers show the texture unscaled) and no specular."""
    return (
        f"newmtl {MATERIAL_NAME}\n"
        "Ka 1.000000 1.000000 1.000000\nKd 1.000000 1.000000 1.000000\nKs 0.000000 0.000000 0.000000\n"
        f"Ns 1.000000\nillum 1\nd 1.000000\nmap_Kd {texture_name}\n"
    )


def write_obj(directory: Path, mesh: UVMesh, texture: np.ndarray, stem: str = "model",
              texture_name: str = "texture.png") -> dict[str, Path]:
    """Write ``{stem}.obj``, ``{stem}.mtl`` and the ``texture [S,S,3]`` uint8 PNG."""
    directory = Path(directory)
    obj, _ = export_obj(
        _trimesh(mesh, texture), include_normals=True, include_texture=True,
        return_texture=True, mtl_name=f"{stem}.mtl", header="dream3d",
    )
    paths = {"obj": directory / f"{stem}.obj", "mtl": directory / f"{stem}.mtl", "texture": directory / texture_name}
    write_png(paths["texture"], texture)
    write_text(paths["mtl"], mtl_text(texture_name))
    write_text(paths["obj"], obj)
    return paths


def write_glb(path: Path, mesh: UVMesh, texture: np.ndarray) -> Path:
    """Write a binary glTF with the ``texture [S,S,3]`` uint8 embedded as base colour."""
    with atomic_path(path) as tmp:
        _trimesh(mesh, texture).export(tmp, file_type="glb")
    return Path(path)
