"""Score distillation guidance: SDS (DreamFusion) and VSD (ProlificDreamer)."""
from dream3d.guidance.sds import SDS, GuidanceConfig
from dream3d.guidance.vsd import VSD

__all__ = ["SDS", "VSD", "GuidanceConfig", "build_guidance"]

GUIDANCE = {"sds": SDS, "vsd": VSD}


def build_guidance(prior, config: GuidanceConfig, max_steps: int):
    """The guidance named by ``config.type``, given the prior it distils."""
    if config.type not in GUIDANCE:
        raise ValueError(f"system.guidance.type must be one of {sorted(GUIDANCE)}, got {config.type!r}")
    return GUIDANCE[config.type](prior, config, max_steps)
