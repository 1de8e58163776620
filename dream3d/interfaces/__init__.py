"""The typed seams of dream3d: where a new prior, condition, guidance or representation
plugs in. Each interface lives in its own small module; see ``docs/architecture.md``."""
from dream3d.interfaces.condition import Condition, Conditioning
from dream3d.interfaces.guidance import Guidance
from dream3d.interfaces.prior import Prior
from dream3d.interfaces.representation import MeshAsset, RenderMode, Representation

__all__ = ["Condition", "Conditioning", "Guidance", "MeshAsset", "Prior", "RenderMode", "Representation"]
