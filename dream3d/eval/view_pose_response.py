"""How far a view-conditioned prior's new view moves when the camera it is asked for moves.

Its 2D samples (``view_prior_samples``) say how close a new view is to the truth; this says
why a shape's views miss. For each shape of the world (in one colour), from a true render at
elevation 15, azimuth 0, the prior's clean-latent estimate

    x0_hat(a) = (z_t - sqrt(1 - abar_t) eps_hat(z_t, t; reference, pose(a))) / sqrt(abar_t)

(Ho et al. 2020, eq. 15) is taken with one noise draw ``z_t`` for the target azimuths ``a`` and
for the reference's own azimuth 0. The response at ``a`` is

    response(a) = |x0_hat(a) - x0_hat(0)|_1 / |z(a) - z(0)|_1,

where ``z`` is the VAE latent of the true render from ``a``. At high noise ``x0_hat`` is the
prior's estimate of the mean of what it would draw, so a prior whose draws turn as the camera
turns scores about 1, and a prior that draws the same view whatever the camera scores 0. Only
shapes whose renders change with azimuth are scored (a sphere's do not).

The response says how far the estimate moves, not where to. The alignment says where:

    alignment(a) = cos(x0_hat(a) - x0_hat(0), z(a) - z(0)),

1 when the estimate moves towards the true view, 0 when it moves across it (or not at all),
-1 when it moves away. Classifier-free guidance (Ho & Salimans 2022) leaves the alignment as it
is: the unconditional branch sees neither the reference nor the pose, so it predicts the same at
every azimuth, and the guided estimate moves ``w`` times as far as the conditional one, in the
same direction. A larger guidance scale makes a prior turn further, never more truly.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from dream3d.cameras import Cameras
from dream3d.eval.view_prior_samples import DISTANCE, REFERENCE_ELEVATION, TARGET_AZIMUTHS, true_view
from dream3d.prior.catalog import SHAPES
from dream3d.interfaces import Conditioning
from dream3d.prior.image_condition import ImageCondition, ReferenceView

TIMESTEPS = (999, 750, 500)
MIN_TRUE_CHANGE = 1e-3
"""Mean absolute latent change between azimuth 0 and a target below which a view is not scored:
the shape looks the same from there (the world's light turns with the camera, so the renders of
a sphere, a cube, a cylinder, a cone, a torus and a pyramid at azimuths 0, 90, 180 and 270 are
the same image)."""


@dataclass
class PoseResponse:
    """One shape's response per target azimuth, averaged over ``TIMESTEPS`` and noise draws."""

    shape: str
    azimuths: list[float]
    response: list[float]
    true_change: list[float]
    """Mean absolute latent change of the true render from azimuth 0 to each target."""
    alignment: list[float]
    """Cosine between the estimate's move and the true move, per target azimuth."""

    @property
    def mean(self) -> float:
        return sum(self.response) / len(self.response)

    @property
    def mean_alignment(self) -> float:
        return sum(self.alignment) / len(self.alignment)


@torch.no_grad()
def clean_estimates(prior, cond: Conditioning, noise: Tensor, t: int) -> Tensor:
    """``x0_hat [A,C,h,w]`` for the ``A`` cameras of ``cond``, from one noise draw
    ``noise [1,C,h,w]`` taken to timestep ``t``; the conditional prediction, no guidance."""
    noisy = noise.expand(len(cond), -1, -1, -1).to(prior.device)
    steps = torch.full((len(cond),), t, device=prior.device)
    return prior.clean_latents(noisy, prior.predict_noise(noisy, steps, cond), steps)


@torch.no_grad()
def pose_response(prior, shape: str, colour: str = "red", azimuths: tuple[float, ...] = TARGET_AZIMUTHS,
                  draws: int = 2, seed: int = 0) -> PoseResponse | None:
    """``shape``'s response at each of ``azimuths`` whose true render differs from azimuth 0's
    (None when none does)."""
    size = prior.image_size
    truths = torch.cat([true_view(shape, colour, a, size)[0] for a in (0.0, *azimuths)])
    latents = prior.encode_images(truths.to(prior.device)).float()
    true_moves = (latents[1:] - latents[:1]).flatten(1).cpu()  # [A,C*h*w]
    change = true_moves.abs().mean(dim=1)
    kept = [i for i in range(len(azimuths)) if change[i] >= MIN_TRUE_CHANGE]
    if not kept:
        return None
    targets = torch.tensor([0.0] + [azimuths[i] for i in kept])
    cameras = Cameras.from_spherical(torch.full_like(targets, REFERENCE_ELEVATION), targets,
                                     torch.full_like(targets, DISTANCE), 40.0, size, size)
    cond, _ = ImageCondition.from_image(prior, truths[:1], ReferenceView(REFERENCE_ELEVATION, 0.0, DISTANCE)
                                        ).for_cameras(cameras)
    generator = torch.Generator().manual_seed(seed)
    shape_of = (1, prior.latent_channels, prior.latent_size, prior.latent_size)
    true_move = true_moves[kept]
    moved, aligned = torch.zeros(len(kept)), torch.zeros(len(kept))
    for _ in range(draws):
        noise = torch.randn(shape_of, generator=generator)
        for t in TIMESTEPS:
            x0 = clean_estimates(prior, cond, noise, t).float()
            move = (x0[1:] - x0[:1]).flatten(1).cpu()
            moved += move.abs().mean(dim=1)
            aligned += torch.nn.functional.cosine_similarity(move, true_move, dim=1)
    runs = draws * len(TIMESTEPS)
    return PoseResponse(shape, [azimuths[i] for i in kept], (moved / runs / change[kept]).tolist(),
                        change[kept].tolist(), (aligned / runs).tolist())


def check_pose_response(prior, shapes: tuple[str, ...] = SHAPES, **kwargs) -> list[PoseResponse]:
    """Every shape's response whose views change with azimuth."""
    return [r for r in (pose_response(prior, shape, **kwargs) for shape in shapes) if r is not None]


def summarise_response(rows: list[PoseResponse]) -> dict:
    """Per-shape rows and the mean over shapes."""
    return {"shapes": [{**asdict(r), "mean": r.mean, "mean_alignment": r.mean_alignment} for r in rows],
            "mean": sum(r.mean for r in rows) / len(rows) if rows else None,
            "mean_alignment": sum(r.mean_alignment for r in rows) / len(rows) if rows else None}
