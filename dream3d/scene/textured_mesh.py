"""A UV-mapped triangle mesh with a learnable albedo texture, and reading one from a file.

The scene is what the texture stages optimise: the geometry is fixed, only the texture
(``sigmoid(texture_logits)``, ``[S,S,3]``) is learned. Its geometry lives in dream3d's world
(+z up, centred, inside the unit sphere); ``MeshFrame`` remembers how the original file was
moved there, so the result is written back in the file's own coordinates.

Geometry and frame are buffers, so a checkpoint holds the whole mesh and a run resumes or
re-exports without the input file; loading a checkpoint resizes them.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from dream3d.config import ConfigError
from dream3d.export.formats import Z_UP_TO_Y_UP
from dream3d.export.types import UVMesh
from dream3d.render.mesh_raster import TexturedMesh

log = logging.getLogger(__name__)

UP_AXES = ("y", "z")
MESH_BUFFERS = ("vertices", "faces", "uvs", "normals")


class MeshInputError(ConfigError):
    """An input mesh is missing, unreadable or unusable; the message names the file."""


@dataclass
class MeshFrame:
    """How a file's coordinates map to dream3d's normalised world.

    ``world = (file_to_world @ p - center) / scale`` for a file point ``p`` (column vectors).
    """

    file_to_world: np.ndarray  # [3,3] rotation taking the file's up axis to +z
    center: np.ndarray  # [3] bounding-box centre, rotated world units
    scale: float  # world units per normalised unit

    @classmethod
    def identity_world(cls) -> MeshFrame:
        """Meshes already in dream3d's world (e.g. extracted from a NeRF), written +y up."""
        return cls(Z_UP_TO_Y_UP.T.astype(np.float32), np.zeros(3, np.float32), 1.0)

    def export_points(self, unit: np.ndarray) -> np.ndarray:
        """Normalised world ``[N,3]`` -> the points that the exporter (which writes ``to_y_up``)
        turns back into the file's own coordinates."""
        file_points = (unit * self.scale + self.center) @ self.file_to_world  # [N,3]
        return (file_points @ Z_UP_TO_Y_UP).astype(np.float32)

    def export_normals(self, normals: np.ndarray) -> np.ndarray:
        """Unit normals ``[N,3]``, rotated like :meth:`export_points` (scale is uniform)."""
        return (normals @ self.file_to_world @ Z_UP_TO_Y_UP).astype(np.float32)


def up_axis_rotation(up_axis: str) -> np.ndarray:
    """Rotation ``[3,3]`` taking a file whose up axis is ``up_axis`` to dream3d's +z up."""
    if up_axis == "y":
        return Z_UP_TO_Y_UP.T.astype(np.float32)  # (x, y, z) -> (x, -z, y)
    if up_axis == "z":
        return np.eye(3, dtype=np.float32)
    raise ConfigError(f"up_axis must be one of {UP_AXES}, got {up_axis!r}")


def normalise(points: np.ndarray, up_axis: str, radius: float) -> tuple[np.ndarray, MeshFrame]:
    """Rotate file points ``[N,3]`` to +z up, centre the bounding box, fit in ``radius``."""
    rotation = up_axis_rotation(up_axis)
    world = points.astype(np.float64) @ rotation.T
    center = 0.5 * (world.min(0) + world.max(0))
    extent = float(np.linalg.norm(world - center, axis=1).max())
    if not np.isfinite(extent) or extent <= 0.0:
        raise MeshInputError("The mesh has zero size (all its vertices coincide).")
    scale = extent / radius
    unit = ((world - center) / scale).astype(np.float32)
    return unit, MeshFrame(rotation, center.astype(np.float32), float(scale))


@dataclass
class MeshFile:
    """A triangle mesh as read from a file, in the file's coordinates."""

    vertices: np.ndarray  # [V,3] float32
    faces: np.ndarray  # [F,3] int64
    uvs: np.ndarray | None  # [V,2] float32, OBJ convention, or None
    texture: np.ndarray | None  # [H,W,3] uint8 base-colour image, or None


def _texture_image(visual) -> np.ndarray | None:
    material = getattr(visual, "material", None)
    image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
    if image is None:
        return None
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def read_mesh_file(path: str | Path) -> MeshFile:
    """Read OBJ/GLB/PLY/... with trimesh; raises ``MeshInputError`` for unusable input."""
    import trimesh

    if not str(path):
        raise MeshInputError("No input mesh: pass --mesh path/to/mesh.obj (or .glb, .ply).")
    path = Path(path).expanduser()
    if not path.is_file():
        raise MeshInputError(f"The mesh file '{path}' does not exist.")
    try:
        loaded = trimesh.load(str(path), force="mesh", process=False)
    except Exception as error:  # noqa: BLE001 - any reader failure is the file's problem
        raise MeshInputError(f"Could not read the mesh '{path}': {type(error).__name__}: {error}") from None
    faces = np.asarray(getattr(loaded, "faces", np.zeros((0, 3))), dtype=np.int64).reshape(-1, 3)
    vertices = np.asarray(getattr(loaded, "vertices", np.zeros((0, 3))), dtype=np.float64).reshape(-1, 3)
    if len(faces) == 0:
        raise MeshInputError(f"The mesh '{path}' has no faces (a point cloud or an empty file cannot be textured).")
    if not np.isfinite(vertices).all():
        bad = int((~np.isfinite(vertices).all(axis=1)).sum())
        raise MeshInputError(f"The mesh '{path}' has {bad} vertices with NaN or infinite coordinates.")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise MeshInputError(f"The mesh '{path}' has faces that index missing vertices.")
    visual = getattr(loaded, "visual", None)
    uvs = getattr(visual, "uv", None) if getattr(visual, "kind", None) == "texture" else None
    if uvs is not None:
        uvs = np.asarray(uvs, dtype=np.float32)
        if uvs.shape != (len(vertices), 2):
            uvs = None
    texture = _texture_image(visual) if uvs is not None else None
    return MeshFile(vertices.astype(np.float32), faces, uvs, texture)


def uvs_usable(uvs: np.ndarray | None, tolerance: float = 1e-3) -> bool:
    """UVs exist, are finite and lie in the unit square (no tiling)."""
    if uvs is None or not np.isfinite(uvs).all():
        return False
    return bool(uvs.min() >= -tolerance and uvs.max() <= 1.0 + tolerance)


def resize_texture(texture: Tensor, size: int) -> Tensor:
    """``texture [H,W,3]`` resampled (antialiased bilinear) to ``[size,size,3]``; unchanged if it fits."""
    if tuple(texture.shape[:2]) == (size, size):
        return texture
    image = texture.permute(2, 0, 1)[None]
    resized = torch.nn.functional.interpolate(image, size=(size, size), mode="bilinear", antialias=True,
                                              align_corners=False)
    return resized[0].permute(1, 2, 0)


class TexturedMeshScene(nn.Module):
    """Fixed geometry (buffers) and a learned ``[S,S,3]`` albedo texture (a parameter).

    The texture is ``sigmoid(texture_logits)``, so it stays in [0,1]. ``uvs`` follow the OBJ
    convention and row 0 of the texture is its top (as ``dream3d.render.mesh_raster``).
    """

    def __init__(self, texture_size: int, init_color: Sequence[float] = (0.5, 0.5, 0.5)):
        super().__init__()
        init = torch.tensor(list(init_color), dtype=torch.float32).clamp(1e-3, 1 - 1e-3)
        self.texture_logits = nn.Parameter(torch.logit(init).expand(texture_size, texture_size, 3).clone())
        self.register_buffer("vertices", torch.zeros(0, 3))  # [V,3] normalised world
        self.register_buffer("faces", torch.zeros(0, 3, dtype=torch.long))  # [F,3]
        self.register_buffer("uvs", torch.zeros(0, 2))  # [V,2] one UV per vertex (split at seams)
        self.register_buffer("normals", torch.zeros(0, 3))  # [V,3] unit, world
        self.register_buffer("file_to_world", torch.eye(3))  # [3,3] see MeshFrame
        self.register_buffer("center", torch.zeros(3))  # [3]
        self.register_buffer("scale", torch.ones(()))  # []

    @property
    def has_mesh(self) -> bool:
        return self.faces.shape[0] > 0

    @property
    def texture_size(self) -> int:
        return int(self.texture_logits.shape[0])

    def set_mesh(self, mesh: UVMesh, frame: MeshFrame, texture: Tensor | None = None) -> None:
        """Install geometry in normalised world and, optionally, an initial ``texture [S,S,3]``."""
        device = self.texture_logits.device
        values = {
            "vertices": torch.as_tensor(mesh.vertices, dtype=torch.float32),
            "faces": torch.as_tensor(mesh.faces, dtype=torch.long),
            "uvs": torch.as_tensor(mesh.uvs, dtype=torch.float32),
            "normals": torch.as_tensor(mesh.normals, dtype=torch.float32),
            "file_to_world": torch.as_tensor(frame.file_to_world, dtype=torch.float32),
            "center": torch.as_tensor(frame.center, dtype=torch.float32),
            "scale": torch.tensor(float(frame.scale)),
        }
        for name, value in values.items():
            setattr(self, name, value.to(device))
        if texture is not None:
            self.set_texture(texture)

    @torch.no_grad()
    def set_texture(self, texture: Tensor) -> None:
        """Start from ``texture [H,W,3]`` in [0,1] (resized to the texture size if needed)."""
        texture = torch.as_tensor(texture, dtype=torch.float32, device=self.texture_logits.device)
        texture = resize_texture(texture, self.texture_size)
        self.texture_logits.copy_(torch.logit(texture.clamp(1e-3, 1 - 1e-3)))

    def texture(self) -> Tensor:
        """The albedo texture ``[S,S,3]`` in [0,1] (differentiable)."""
        return torch.sigmoid(self.texture_logits)

    def renderable(self) -> TexturedMesh:
        """The mesh for ``dream3d.render.mesh_raster.render_mesh``; gradients reach the texture."""
        return TexturedMesh(vertices=self.vertices, faces=self.faces, uvs=self.uvs, texture=self.texture(),
                            vertex_normals=self.normals)

    def frame(self) -> MeshFrame:
        return MeshFrame(self.file_to_world.cpu().numpy(), self.center.cpu().numpy(), float(self.scale))

    def uv_mesh(self) -> UVMesh:
        """The geometry in normalised world, as the exporter's ``UVMesh``."""
        return UVMesh(
            vertices=self.vertices.cpu().numpy(), faces=self.faces.cpu().numpy(), uvs=self.uvs.cpu().numpy(),
            normals=self.normals.cpu().numpy(), source_vertex=np.arange(len(self.vertices), dtype=np.int64),
        )

    def file_mesh(self) -> UVMesh:
        """The geometry placed so that the exporter writes it in the input file's coordinates."""
        mesh, frame = self.uv_mesh(), self.frame()
        mesh.vertices = frame.export_points(mesh.vertices)
        mesh.normals = frame.export_normals(mesh.normals)
        return mesh

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # the mesh of a checkpoint has its own size: resize the buffers before copying
        for name in MESH_BUFFERS:
            key = prefix + name
            if key in state_dict:
                setattr(self, name, torch.empty_like(state_dict[key], device=getattr(self, name).device))
        # so has its texture (export.texture_size may differ now): resize the parameter in place,
        # so that optimizers keep their reference to it; exports resample it to the asked size
        saved = state_dict.get(prefix + "texture_logits")
        if saved is not None and saved.shape != self.texture_logits.shape:
            log.info("The checkpoint's learned texture is %d px; exports resample it to %d px.",
                     saved.shape[0], self.texture_size)
            self.texture_logits.data = torch.empty_like(saved, device=self.texture_logits.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
