"""``guidance.type`` -> the score-distillation class: the one place that picks it by name."""
from __future__ import annotations

from dream3d.guidance.multiview_sds import MultiViewSDS
from dream3d.guidance.sds import SDS, GuidanceConfig
from dream3d.guidance.vsd import VSD
from dream3d.interfaces import Guidance, Prior

GUIDANCE: dict[str, type] = {"sds": SDS, "vsd": VSD, "multiview-sds": MultiViewSDS}


def build_guidance(prior: Prior, config: GuidanceConfig, max_steps: int) -> Guidance:
    """The guidance named by ``config.type``, distilling ``prior`` over ``max_steps`` steps."""
    return GUIDANCE[config.type](prior, config, max_steps)
