"""The condition of a multi-view prior: the prompt's text embeddings and each view's camera.

For cameras ``[B·V]`` (object-major, ``V`` views per object) ``MultiViewCondition.for_cameras``
gives ``context [B·V,L,D]`` (the text, as the text condition builds it) and ``class_labels
[B·V,16]`` (MVDream's camera input, ``dream3d.prior.multiview_camera``) to both the conditional
and the unconditional branch: MVDream's classifier-free guidance drops the text, not the
cameras (Shi et al. 2023, arXiv:2308.16512). MVDream itself uses the plain prompt for every
view (``prompt_processing.view_dependent: false``); view suffixes are applied per camera when
asked for.
"""
from __future__ import annotations

from dataclasses import dataclass

from dream3d.cameras import Cameras
from dream3d.interfaces.condition import Condition, Conditioning
from dream3d.prior.multiview import MultiViewPrior
from dream3d.prior.multiview_camera import camera_features
from dream3d.prior.prompts import PromptConfig, build_text_condition


@dataclass
class MultiViewCondition:
    """Text embeddings for each view and the views' cameras as the prior's ``class_labels``."""

    text: Condition
    """The text condition (``TextCondition``): context and negative context per camera."""
    camera_yaw_degrees: float = 0.0
    """Rotation of dream3d's world about +z before the cameras are embedded (the prior's own)."""

    def for_cameras(self, cameras: Cameras) -> tuple[Conditioning, Conditioning]:
        """``(cond, uncond)``: ``context [B·V,L,D]`` each and the same ``class_labels [B·V,16]``."""
        cond, uncond = self.text.for_cameras(cameras)
        labels = camera_features(cameras.c2w, self.camera_yaw_degrees).to(cond.context.device)
        return cond.with_class_labels(labels), uncond.with_class_labels(labels)


def build_multiview_condition(prior: MultiViewPrior, prompt: str, negative_prompt: str = "",
                              config: PromptConfig | None = None) -> MultiViewCondition:
    """Embed the prompt once (``build_text_condition``) and attach the prior's camera convention."""
    text = build_text_condition(prior, prompt, negative_prompt, config)
    return MultiViewCondition(text, prior.camera_yaw_degrees)
