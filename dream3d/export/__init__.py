"""Mesh export: density grid -> marching cubes -> cleanup -> UVs -> texture -> OBJ/GLB."""
from dream3d.export.bake import bake_albedo, fill_seams
from dream3d.export.config import ExportConfig, validate_export_config
from dream3d.export.pipeline import ExportResult, bake, export_scene, extract_mesh, unwrap, write_export
from dream3d.export.texels import TexelMap, texel_surface_points
from dream3d.export.types import ExportError, Mesh, UVMesh

__all__ = [
    "ExportConfig",
    "ExportError",
    "ExportResult",
    "Mesh",
    "TexelMap",
    "UVMesh",
    "bake",
    "bake_albedo",
    "export_scene",
    "extract_mesh",
    "fill_seams",
    "texel_surface_points",
    "unwrap",
    "validate_export_config",
    "write_export",
]
