"""Checks before work that tie the prior, the guidance and the cameras together.

- A multi-view prior (``prior.type: multiview``) scores whole objects: every stage's cameras
  draw ``views`` equal to the prior's view count (from its ``multiview.json`` when the folder
  is local), score distillation is ``multiview-sds`` (one timestep per object), and VSD and
  Perp-Neg (single-view techniques) are refused.
- ``multiview-sds`` needs a multi-view prior; a folder with ``multiview.json`` is one.
- Perp-Neg needs view-dependent prompts.
"""
from __future__ import annotations

from dream3d.cameras import CameraSamplerConfig
from dream3d.methods.common import DistillationConfig, require
from dream3d.prior.multiview import local_multiview_info


def validate_prior(system: DistillationConfig, *cameras: CameraSamplerConfig) -> None:
    """Raise ``ConfigError`` unless the prior, guidance, prompts and ``cameras`` of the stages fit."""
    prior, guidance, prompts = system.prior, system.guidance, system.prompt_processing
    perp_neg = getattr(prompts, "perp_neg", None)
    info = local_multiview_info(prior.pretrained)
    require(info is None or prior.type == "multiview",
            f"'{prior.pretrained}' is a multi-view prior (it has multiview.json): set system.prior.type=multiview "
            "and system.guidance.type=multiview-sds.")
    if prior.type == "image" or system.image.path:
        validate_image_prior(system, *cameras)
        return
    if prior.type != "multiview":
        require(guidance.type != "multiview-sds",
                "system.guidance.type=multiview-sds needs a multi-view prior (system.prior.type=multiview).")
        require(all(camera.views == 1 for camera in cameras),
                "Camera views > 1 (MVDream's layout) are for a multi-view prior (system.prior.type=multiview).")
        require(perp_neg is None or not perp_neg.enabled or prompts.view_dependent,
                "Perp-Neg needs view prompts: set system.prompt_processing.view_dependent=true.")
        return
    require(guidance.type == "multiview-sds",
            f"A multi-view prior is distilled by system.guidance.type=multiview-sds, not {guidance.type!r}.")
    require(perp_neg is None or not perp_neg.enabled,
            "Perp-Neg is for a single-view prior; a multi-view prior sees every view at once.")
    views = info.num_views if info is not None else None
    for camera in cameras:
        require(camera.views > 1 and (views is None or camera.views == views),
                f"A multi-view prior denoises {views or 'several'} views of an object together: set the cameras' "
                f"views to {views or 'its view count'} (got {camera.views}).")


def validate_image_prior(system: DistillationConfig, *cameras: CameraSamplerConfig) -> None:
    """Image-to-3D: the input image and a view-conditioned prior come together."""
    prior, image = system.prior, system.image
    require(bool(image.path), "A view-conditioned prior (system.prior.type=image) needs the input image: --image FILE.")
    require(prior.type == "image", f"--image needs a view-conditioned prior (Zero123 layout): set system.prior.type=image "
            f"and system.prior.pretrained to one (got type {prior.type!r}); or use --config configs/dreamgaussian-image.yaml.")
    require(system.guidance.type == "sds", f"Image-to-3D distils with system.guidance.type=sds, not {system.guidance.type!r}.")
    require(all(camera.views == 1 for camera in cameras), "Image-to-3D cameras draw single views (views: 1).")
    require(-90.0 < image.elevation < 90.0, f"--elevation must lie in (-90, 90) degrees, got {image.elevation:g}.")
