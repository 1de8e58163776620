"""Multi-view score distillation (MVDream, Shi et al. 2023, arXiv:2308.16512, sec. 3.3).

Each step renders ``V`` views of the scene in MVDream's layout (azimuths a + k·360°/V around a
random base camera, one elevation; ``CameraSamplerConfig.views``) and applies one joint SDS to
them: the ``V`` latents are noised to one shared timestep, the multi-view prior denoises them
together (cross-view attention, one camera per view), and each view receives

    grad_z_v = w(t) * (eps_hat_v(z_t; y, c_1..c_V, t) - eps_v),

with ``eps_hat`` classifier-free-guided as in SDS (Ho & Salimans 2022). Everything but the
timestep draw is SDS's (``dream3d.guidance.sds`` and ``dream3d.guidance.diffusion``): noising,
CFG, weighting, image-space option and the surrogate loss.
"""
from __future__ import annotations

from torch import Tensor

from dream3d.guidance.diffusion import NoisyLatents, noise_latents
from dream3d.guidance.sds import SDS, GuidanceConfig
from dream3d.interfaces import Prior


class MultiViewSDS(SDS):
    """SDS on whole objects of ``prior.num_views`` views, one timestep per object (``Guidance``)."""

    def __init__(self, prior: Prior, config: GuidanceConfig, max_steps: int):
        views = int(getattr(prior, "num_views", 0))
        if views < 1:
            raise ValueError("guidance.type multiview-sds needs a multi-view prior (system.prior.type: multiview).")
        super().__init__(prior, config, max_steps)
        self.views = views

    def objects(self, batch: int) -> int:
        """Objects in a batch of ``batch`` views (the views of an object are adjacent)."""
        if batch % self.views:
            raise ValueError(f"Multi-view SDS scores whole objects of {self.views} views; got {batch} renders. "
                             f"Set the stage's camera views to {self.views}.")
        return batch // self.views

    def draw(self, latents: Tensor, step: int) -> NoisyLatents:
        """One timestep per object, shared by its views; then the noise ``[B·V,C,h,w]``."""
        t = self.schedule.sample(step, self.objects(latents.shape[0]), latents.device)
        return noise_latents(self.prior, latents, t.repeat_interleave(self.views))
