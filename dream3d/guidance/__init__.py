"""Score distillation guidance: SDS (DreamFusion), VSD (ProlificDreamer), SDEdit targets
(DreamGaussian's refinement), all behind ``dream3d.interfaces.Guidance``."""
from dream3d.guidance.factory import GUIDANCE, build_guidance
from dream3d.guidance.sds import SDS, GuidanceConfig
from dream3d.guidance.vsd import VSD

__all__ = ["GUIDANCE", "SDS", "VSD", "GuidanceConfig", "build_guidance"]
