"""3D Gaussians as optimised by DreamGaussian (Tang et al. 2023, arXiv:2309.16653).

A scene is a set of anisotropic 3D Gaussians (3D Gaussian Splatting, Kerbl et al. 2023):
centres ``mu``, covariances ``Sigma = R S S^T R^T`` from a unit quaternion and log-scales,
opacities (sigmoid of logits) and colours stored as degree-0 spherical-harmonic
coefficients (``rgb = max(0, 0.5 + C0 * sh0)``, the convention gsplat uses).
DreamGaussian starts from points drawn uniformly in a sphere of radius 0.5 and decays
the position learning rate log-linearly; densification/pruning follows 3DGS through
gsplat's ``DefaultStrategy`` (see ``Densifier``).

For export, the scene answers ``density(x) = sum_i o_i exp(-1/2 (x-mu_i)^T Sigma_i^-1 (x-mu_i))``
and ``albedo(x)`` (the density-weighted colour), evaluated block by block on a spatial
hash of cells so that 128^3 grids against 10k Gaussians stay cheap on a CPU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:  # gsplat is imported lazily: importing dream3d must stay cheap
    from gsplat.strategy import DefaultStrategy

SH_C0 = 0.28209479177387814  # Y_0^0 = 1 / (2 sqrt(pi))
PARAM_NAMES = ("means", "scales", "quats", "opacities", "sh0")


@dataclass
class DensifyConfig:
    """Adaptive density control of 3DGS, run by gsplat's ``DefaultStrategy``."""

    enabled: bool = True
    """Densify and prune at all."""
    refine_start_iter: int = 0
    """Refine only after this step (DreamGaussian: density_start_iter)."""
    refine_stop_iter: int = 3000
    """Stop refining after this step (DreamGaussian: density_end_iter)."""
    refine_every: int = 50
    """Steps between refinements (DreamGaussian: densification_interval)."""
    grow_grad2d: float = 0.01
    """Mean screen-space gradient (NDC units) above which a Gaussian is cloned or split."""
    grow_scale3d: float = 0.04
    """Largest scale (world units) below which a Gaussian is cloned, above which split."""
    prune_opa: float = 0.01
    """Gaussians less opaque than this are pruned."""
    prune_scale3d: float = 0.4
    """Gaussians larger than this (world units) are pruned after the first opacity reset."""
    reset_every: int = 700
    """Steps between opacity resets (DreamGaussian: opacity_reset_interval); 0 disables."""
    verbose: bool = False
    """Print what each refinement did."""


@dataclass
class GaussianConfig:
    """A DreamGaussian scene: initialisation, learning rates and densification."""

    num_points: int = 5000
    """Gaussians at initialisation."""
    init_radius: float = 0.5
    """Initial centres are uniform in a ball of this radius."""
    init_opacity: float = 0.1
    """Initial opacity of every Gaussian."""
    init_scale: float = 0.0
    """Initial isotropic scale; 0 uses the RMS distance to the 3 nearest neighbours."""
    position_lr_init: float = 1e-3
    """Learning rate of the centres at step 0."""
    position_lr_final: float = 2e-5
    """Learning rate of the centres from ``position_lr_max_steps`` on."""
    position_lr_delay_steps: int = 0
    """Optional warm-up steps over which the position rate ramps in (0: none)."""
    position_lr_delay_mult: float = 0.02
    """Fraction of the rate at step 0 during the warm-up."""
    position_lr_max_steps: int = 300
    """Steps over which the position rate decays log-linearly."""
    color_lr: float = 0.01
    """Learning rate of the SH colour coefficients."""
    opacity_lr: float = 0.05
    """Learning rate of the opacity logits."""
    scale_lr: float = 0.005
    """Learning rate of the log-scales."""
    rotation_lr: float = 0.005
    """Learning rate of the quaternions."""
    query_sigmas: float = 3.0
    """The density query ignores a Gaussian beyond this Mahalanobis radius."""
    query_block: int = 1 << 21
    """Point-Gaussian pairs evaluated per block by the density query."""
    densify: DensifyConfig = field(default_factory=DensifyConfig)
    """Densification and pruning."""


def quat_to_rotmat(quats: Tensor) -> Tensor:
    """Rotation matrices ``[N,3,3]`` from quaternions ``[N,4]`` (w, x, y, z), normalised here."""
    w, x, y, z = F.normalize(quats, dim=-1).unbind(-1)
    rows = (
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    )
    return torch.stack(rows, -1).reshape(*quats.shape[:-1], 3, 3)


def covariances(quats: Tensor, log_scales: Tensor) -> Tensor:
    """``Sigma = R S S^T R^T`` ``[N,3,3]`` (Kerbl et al. 2023, eq. 6)."""
    M = quat_to_rotmat(quats) * torch.exp(log_scales)[..., None, :]  # R S
    return M @ M.transpose(-1, -2)


def log_linear_lr(step: int, lr_init: float, lr_final: float, max_steps: int,
                  delay_steps: int = 0, delay_mult: float = 1.0) -> float:
    """``exp((1-t) log lr_init + t log lr_final)``, ``t = clip(step/max_steps)``, times an optional sine warm-up."""
    t = min(max(step / max(max_steps, 1), 0.0), 1.0)
    lr = math.exp((1.0 - t) * math.log(lr_init) + t * math.log(lr_final))
    if delay_steps > 0:
        lr *= delay_mult + (1.0 - delay_mult) * math.sin(0.5 * math.pi * min(max(step / delay_steps, 0.0), 1.0))
    return lr


def sample_ball(n: int, radius: float, generator: torch.Generator | None = None) -> Tensor:
    """``n`` points ``[n,3]`` uniform in a ball: uniform direction, radius ``r * u^(1/3)``."""
    direction = F.normalize(torch.randn(n, 3, generator=generator), dim=-1)
    return direction * radius * torch.rand(n, 1, generator=generator).pow(1.0 / 3.0)


def knn_rms_distance(points: Tensor, k: int = 3, block: int = 1024) -> Tensor:
    """RMS distance ``[N]`` of each point to its ``k`` nearest neighbours, in blocks of rows."""
    out = []
    for start in range(0, points.shape[0], block):
        d2 = torch.cdist(points[start:start + block], points).square()  # [b,N]
        nearest = d2.topk(min(k + 1, points.shape[0]), dim=1, largest=False).values[:, 1:]  # drop self
        out.append(nearest.mean(1).sqrt())
    return torch.cat(out)


class GaussianScene(nn.Module):
    """Parameters in a ``ParameterDict`` laid out as gsplat's strategies expect.

    ``params``: ``means [N,3]``, ``scales [N,3]`` (log), ``quats [N,4]`` (w,x,y,z, unnormalised),
    ``opacities [N]`` (logits), ``sh0 [N,1,3]`` (degree-0 SH). Densification replaces entries.
    """

    def __init__(self, config: GaussianConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        n = config.num_points
        means = sample_ball(n, config.init_radius, generator)
        if config.init_scale > 0:
            scale = torch.full((n,), config.init_scale)
        else:
            scale = knn_rms_distance(means).clamp_min(1e-7) if n > 1 else torch.full((n,), 0.01)
        quats = torch.zeros(n, 4)
        quats[:, 0] = 1.0
        sh0 = torch.rand(n, 1, 3, generator=generator) / 255.0  # colour ~0.5: a grey start
        self.params = nn.ParameterDict({
            "means": nn.Parameter(means),
            "scales": nn.Parameter(scale.log()[:, None].repeat(1, 3)),
            "quats": nn.Parameter(quats),
            "opacities": nn.Parameter(torch.full((n,), math.log(config.init_opacity / (1 - config.init_opacity)))),
            "sh0": nn.Parameter(sh0),
        })

    @classmethod
    def from_tensors(cls, means: Tensor, log_scales: Tensor, quats: Tensor, opacity_logits: Tensor, rgb: Tensor,
                     config: GaussianConfig | None = None) -> "GaussianScene":
        """A scene with given parameters (``rgb [N,3]`` is converted to SH degree 0)."""
        scene = cls(GaussianConfig(num_points=0) if config is None else config)
        values = (means, log_scales, quats, opacity_logits, ((rgb - 0.5) / SH_C0)[:, None, :])
        for name, value in zip(PARAM_NAMES, values):
            scene.params[name] = nn.Parameter(value.detach().clone())
        return scene

    @property
    def num_gaussians(self) -> int:
        return self.params["means"].shape[0]

    @property
    def means(self) -> Tensor:  # [N,3]
        return self.params["means"]

    @property
    def scales(self) -> Tensor:  # [N,3]
        return torch.exp(self.params["scales"])

    @property
    def quats(self) -> Tensor:  # [N,4] unit
        return F.normalize(self.params["quats"], dim=-1)

    @property
    def opacities(self) -> Tensor:  # [N]
        return torch.sigmoid(self.params["opacities"])

    @property
    def colors(self) -> Tensor:  # [N,3]
        return (0.5 + SH_C0 * self.params["sh0"][:, 0, :]).clamp_min(0.0)

    def covariances(self) -> Tensor:
        """World-space covariances ``[N,3,3]``."""
        return covariances(self.params["quats"], self.params["scales"])

    def learning_rates(self) -> dict[str, float]:
        """Initial learning rate per parameter group."""
        c = self.config
        return {"means": c.position_lr_init, "scales": c.scale_lr, "quats": c.rotation_lr,
                "opacities": c.opacity_lr, "sh0": c.color_lr}

    def param_groups(self) -> list[dict[str, Any]]:
        """Named parameter groups with their learning rates, for a single optimizer."""
        return [{"params": [self.params[k]], "lr": lr, "name": k} for k, lr in self.learning_rates().items()]

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """One Adam per parameter (``eps=1e-15`` as in 3DGS), the layout gsplat's strategies need."""
        return {k: torch.optim.Adam([{"params": [self.params[k]], "lr": lr, "name": k}], eps=1e-15)
                for k, lr in self.learning_rates().items()}

    def position_lr(self, step: int) -> float:
        """DreamGaussian's log-linear decay of the position learning rate."""
        c = self.config
        return log_linear_lr(step, c.position_lr_init, c.position_lr_final, c.position_lr_max_steps,
                             c.position_lr_delay_steps, c.position_lr_delay_mult)

    def update_learning_rate(self, optimizers: dict[str, torch.optim.Optimizer] | torch.optim.Optimizer,
                             step: int) -> float:
        """Set the position rate for ``step`` in ``make_optimizers()``'s dict or a ``param_groups()`` optimizer."""
        lr = self.position_lr(step)
        groups = optimizers["means"].param_groups if isinstance(optimizers, dict) else optimizers.param_groups
        for group in groups:
            if group.get("name", "means") == "means":
                group["lr"] = lr
        return lr

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Resize the parameters to the checkpoint's Gaussian count first (densification changes it)."""
        for name in PARAM_NAMES:
            key = f"params.{name}"
            if key in state_dict:
                self.params[name] = nn.Parameter(torch.empty_like(state_dict[key], device=self.params[name].device))
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def density(self, points: Tensor) -> Tensor:
        """``sum_i o_i exp(-1/2 d_i^T Sigma_i^-1 d_i)`` at world points ``[N,3]`` -> ``[N]``."""
        return self.density_and_albedo(points, with_albedo=False)[0]

    def albedo(self, points: Tensor) -> Tensor:
        """Density-weighted colour of nearby Gaussians ``[N,3]`` in [0,1] (0 where no Gaussian reaches)."""
        return self.density_and_albedo(points, with_albedo=True)[1].clamp(0.0, 1.0)

    def density_and_albedo(self, points: Tensor, with_albedo: bool = True) -> tuple[Tensor, Tensor | None]:
        """Both queries at once: ``[N]`` and ``[N,3]`` (or None)."""
        return gaussian_density(points, self.means, self.covariances(), self.opacities,
                                self.colors if with_albedo else None, self.config.query_sigmas, self.config.query_block)


def gaussian_density(points: Tensor, means: Tensor, covars: Tensor, opacities: Tensor, colors: Tensor | None,
                     sigmas: float = 3.0, block: int = 1 << 21,
                     cell_scale: float = 0.5) -> tuple[Tensor, Tensor | None]:
    """Truncated sum of Gaussians at ``points [P,3]``; also the weighted mean of ``colors [G,3]``.

    Points are bucketed into cubic cells (``cell_scale`` times a typical box half-size);
    each Gaussian visits the cells its ``sigmas``-box overlaps and is evaluated only
    against the points in them, ``block`` point-Gaussian pairs at a time.
    """
    P, dev, dt = points.shape[0], points.device, points.dtype
    dens = points.new_zeros(P)
    col = points.new_zeros(P, 3) if colors is not None else None
    if P == 0 or means.shape[0] == 0:
        return dens, col
    half = sigmas * torch.diagonal(covars, dim1=-2, dim2=-1).clamp_min(0).sqrt()  # [G,3] box half-size
    lo, hi = points.min(0).values, points.max(0).values
    inside = ((means + half >= lo) & (means - half <= hi)).all(-1)
    idx = torch.nonzero(inside)[:, 0]
    if idx.numel() == 0:
        return dens, col
    mu, half = means[idx], half[idx]
    prec = torch.linalg.inv(covars[idx])  # [G,3,3]
    prec6 = torch.stack([prec[:, 0, 0], prec[:, 1, 1], prec[:, 2, 2],
                         2 * prec[:, 0, 1], 2 * prec[:, 0, 2], 2 * prec[:, 1, 2]], -1)  # [G,6]
    opa = opacities[idx]
    feat = torch.cat([torch.ones_like(opa)[:, None], colors[idx]], -1) if colors is not None else None  # [G,4]
    span = (hi - lo).max().clamp_min(1e-6)
    cell = torch.maximum(half.detach().max(-1).values.median() * cell_scale, span / 512)  # <=512 cells per axis
    dims = ((hi - lo) / cell).floor().long() + 1  # [3]
    pcell = ((points.detach() - lo) / cell).floor().long().minimum(dims - 1)
    pkey = (pcell[:, 0] * dims[1] + pcell[:, 1]) * dims[2] + pcell[:, 2]
    pkey, porder = torch.sort(pkey)
    # every (Gaussian, cell) pair inside its box
    cmin = ((mu - half - lo) / cell).detach().floor().long().clamp_min(0).minimum(dims - 1)
    cmax = ((mu + half - lo) / cell).detach().floor().long().clamp_min(0).minimum(dims - 1)
    ext = cmax - cmin + 1  # [G,3]
    g = torch.repeat_interleave(torch.arange(mu.shape[0], device=dev), ext.prod(-1))
    local = torch.arange(g.shape[0], device=dev) - (torch.cumsum(ext.prod(-1), 0) - ext.prod(-1))[g]
    cz = local % ext[g, 2]
    cy = (local // ext[g, 2]) % ext[g, 1]
    cx = local // (ext[g, 2] * ext[g, 1])
    key = ((cmin[g, 0] + cx) * dims[1] + cmin[g, 1] + cy) * dims[2] + cmin[g, 2] + cz
    start = torch.searchsorted(pkey, key)
    count = torch.searchsorted(pkey, key, right=True) - start
    keep = count > 0
    g, start, count = g[keep], start[keep], count[keep]
    pts = points[porder]
    acc = points.new_zeros(P * (4 if colors is not None else 1))  # sorted order: density, weighted colour
    ends = torch.cumsum(count, 0)
    first = 0
    while first < g.shape[0]:
        base = ends[first] - count[first]
        last = max(int(torch.searchsorted(ends, base + block, right=True)), first + 1)
        gb, sb, nb = g[first:last], start[first:last], count[first:last]
        gi = torch.repeat_interleave(gb, nb)  # [M]
        off = torch.arange(gi.shape[0], device=dev) - torch.repeat_interleave(torch.cumsum(nb, 0) - nb, nb)
        pi = torch.repeat_interleave(sb, nb) + off  # [M] index into sorted points
        d = pts[pi] - mu[gi]  # [M,3]
        q = prec6[gi]
        x, y, z = d.unbind(-1)
        m = (q[:, :3] * d * d).sum(-1) + q[:, 3] * x * y + q[:, 4] * x * z + q[:, 5] * y * z  # Mahalanobis^2
        val = torch.where(m <= sigmas * sigmas, opa[gi] * torch.exp(-0.5 * m), torch.zeros((), dtype=dt, device=dev))
        if feat is None:
            acc = acc.index_add(0, pi, val)
        else:  # 1-D index_add over flattened (point, channel) is much faster on CPU than 2-D
            flat_idx = (pi[:, None] * 4 + torch.arange(4, device=dev)).reshape(-1)
            acc = acc.index_add(0, flat_idx, (val[:, None] * feat[gi]).reshape(-1))
        first = last
    out = acc.reshape(P, -1)[torch.argsort(porder)]  # back to the caller's point order
    if colors is None:
        return out[:, 0], None
    dens = out[:, 0]
    zero = torch.zeros((), dtype=dt, device=dev)
    col = torch.where(dens[:, None] > 0, out[:, 1:] / dens[:, None].clamp_min(1e-12), zero)
    return dens, col


@dataclass
class Densifier:
    """Adaptive density control (Kerbl et al. 2023) through gsplat's public ``DefaultStrategy``.

    Explicit state: the strategy, its running statistics ``state`` (per-Gaussian screen
    gradients and visibility counts), the scene's ``ParameterDict`` and the per-parameter
    optimizers, which the strategy grows and shrinks in place. Step hook, per step:
    render -> ``before_backward(step, info)`` -> ``loss.backward()`` -> ``after_backward(step, info)``
    -> ``optimizer.step()``. ``info`` is the renderer's (``Render.extras["info"]``).
    """

    config: DensifyConfig
    scene: GaussianScene
    optimizers: dict[str, torch.optim.Optimizer]
    strategy: "DefaultStrategy | None" = None
    state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from gsplat.strategy import DefaultStrategy

        c = self.config
        if self.strategy is None:
            self.strategy = DefaultStrategy(
                prune_opa=c.prune_opa, grow_grad2d=c.grow_grad2d, grow_scale3d=c.grow_scale3d,
                prune_scale3d=c.prune_scale3d, refine_start_iter=c.refine_start_iter,
                refine_stop_iter=c.refine_stop_iter, refine_every=c.refine_every,
                reset_every=c.reset_every if c.reset_every > 0 else 1 << 62, verbose=c.verbose,
            )
        self.strategy.check_sanity(self.scene.params, self.optimizers)
        if not self.state:
            self.state = self.strategy.initialize_state(scene_scale=1.0)

    def before_backward(self, step: int, info: dict[str, Any]) -> None:
        """Keep the gradient of ``info["means2d"]`` (the densification signal)."""
        if self.config.enabled and step < self.config.refine_stop_iter:
            self.strategy.step_pre_backward(self.scene.params, self.optimizers, self.state, step, info)

    def after_backward(self, step: int, info: dict[str, Any]) -> None:
        """Accumulate statistics; every ``refine_every`` steps clone/split/prune; reset opacities."""
        if not self.config.enabled or step >= self.config.refine_stop_iter:
            return
        self.strategy.step_post_backward(self.scene.params, self.optimizers, self.state, step, info,
                                         packed=info.get("packed", False))
        c = self.config
        if c.reset_every > 0 and step > 0 and step % c.reset_every == 0:
            self.reset_opacities(2.0 * c.prune_opa)

    @torch.no_grad()
    def reset_opacities(self, value: float) -> None:
        """Clamp opacities to at most ``value`` and clear their Adam moments (idempotent).

        gsplat 1.5.3's ``DefaultStrategy`` never resets (its condition
        ``step % reset_every == 0 & step > 0`` is always false), so the reset is done here.
        """
        param = self.scene.params["opacities"]
        param.clamp_(max=math.log(value / (1.0 - value)))
        for moment in self.optimizers["opacities"].state.get(param, {}).values():
            if torch.is_tensor(moment) and moment.shape == param.shape:
                moment.zero_()

    @property
    def num_gaussians(self) -> int:
        return self.scene.num_gaussians
