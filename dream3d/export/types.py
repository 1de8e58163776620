"""Meshes passed between export stages, and the export's user-facing error."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class ExportError(RuntimeError):
    """The scene cannot be exported as asked; the message says why and what to try."""


@dataclass
class Mesh:
    """A triangle mesh in world space (right-handed, +z up)."""

    vertices: np.ndarray  # [V,3] float32
    faces: np.ndarray  # [F,3] int64, counter-clockwise seen from outside

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])


@dataclass
class UVMesh:
    """A mesh whose vertices are split along UV seams, one UV per vertex."""

    vertices: np.ndarray  # [V,3] float32, world space
    faces: np.ndarray  # [F,3] int64
    uvs: np.ndarray  # [V,2] float32 in [0,1], OBJ convention: (0,0) is the image's bottom-left
    normals: np.ndarray  # [V,3] float32 unit vertex normals (computed before the split: no seams)
    source_vertex: np.ndarray  # [V] int64, index of each vertex in the unsplit mesh
