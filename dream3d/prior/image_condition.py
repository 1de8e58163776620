"""The image condition of a view-conditioned prior: a reference image and the relative pose
of each camera to the reference camera (Zero123, Liu et al. 2023, sec. 3.1).

Zero123 describes a camera by its polar angle ``theta`` (from the +z axis), azimuth ``phi``
and distance ``r``, and conditions on the change from the reference view

    pose = (theta - theta_ref,  sin(phi - phi_ref),  cos(phi - phi_ref),  r - r_ref)

with the polar change in radians. dream3d's cameras give the elevation above the xy-plane,
so ``theta = 90 deg - elevation`` and the polar change is minus the elevation change.
``ImageCondition`` implements ``dream3d.interfaces.Condition``: the conditional input is
the projected token and the reference latent, the unconditional one is zeros for both,
as Zero123 trains its classifier-free guidance.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dream3d.cameras import Cameras
from dream3d.interfaces.condition import Conditioning
from dream3d.prior.view_conditioned import ViewConditionedPrior


@dataclass(frozen=True)
class ReferenceView:
    """Where the reference image was taken from (degrees and world units)."""

    elevation: float = 0.0
    azimuth: float = 0.0
    distance: float = 2.5


def zero123_pose(elevation_change: Tensor, azimuth_change: Tensor, distance_change: Tensor) -> Tensor:
    """Zero123's pose ``[B,4]`` from changes in elevation and azimuth (degrees) and distance."""
    polar = -torch.deg2rad(elevation_change.float())
    azimuth = torch.deg2rad(azimuth_change.float())
    return torch.stack([polar, torch.sin(azimuth), torch.cos(azimuth), distance_change.float()], dim=-1)


def relative_pose(cameras: Cameras, reference: ReferenceView) -> Tensor:
    """Zero123's pose ``[B,4]`` of each camera relative to the reference camera."""
    return zero123_pose(cameras.elevation - reference.elevation, cameras.azimuth - reference.azimuth,
                        cameras.distance - reference.distance)


@dataclass
class ImageCondition:
    """A reference image's CLIP embedding ``[1,D]`` and latents ``[1,C,h,w]``, seen from ``reference``."""

    prior: ViewConditionedPrior
    image_embedding: Tensor
    latents: Tensor
    reference: ReferenceView

    @classmethod
    def from_image(cls, prior: ViewConditionedPrior, image: Tensor, reference: ReferenceView) -> ImageCondition:
        """Embed ``image [1,3,H,W]`` (in [0,1], on white) once."""
        image = image.to(prior.device)
        return cls(prior, prior.embed_image(image), prior.reference_latents(image), reference)

    def for_cameras(self, cameras: Cameras) -> tuple[Conditioning, Conditioning]:
        """``(conditional, unconditional)`` inputs for a batch of ``B`` cameras."""
        batch = len(cameras)
        pose = relative_pose(cameras, self.reference).to(self.image_embedding.device)
        token = self.prior.project(self.image_embedding.expand(batch, -1), pose)  # [B,1,D]
        latents = self.latents.expand(batch, -1, -1, -1)
        labels = pose.to(token.dtype) if self.prior.takes_pose_labels else None
        cond = Conditioning(context=token, concat=latents, class_labels=labels)
        uncond = Conditioning(context=torch.zeros_like(token), concat=torch.zeros_like(latents),
                              class_labels=None if labels is None else torch.zeros_like(labels))
        return cond, uncond

