"""Variational score distillation (ProlificDreamer, Wang et al. 2023, arXiv:2305.16213).

VSD replaces the noise ``eps`` of SDS by the score of the distribution of the current
renders, estimated by a LoRA of the prior's UNet conditioned on the camera:

    grad_z = w(t) * (eps_pretrained_cfg(z_t; y, t) - eps_lora(z_t; y, t, c)),

(ProlificDreamer eq. 9), injected with the same surrogate loss as SDS. The LoRA is trained at
every step with the denoising loss on the detached latents of the renders, with its own
timestep and noise (ProlificDreamer Algorithm 1):

    L_lora = || eps_lora(sqrt(abar_s) z + sqrt(1 - abar_s) n; y, s, c) - n ||^2.

The LoRA lives on the prior's own UNet through diffusers' public adapter API
(``add_adapter`` with a peft ``LoraConfig``, ``enable_adapters``/``disable_adapters``). At rest
the adapter is disabled and the UNet has no class embedding, so the pretrained branch is the
frozen prior bit for bit; the LoRA branch enables the adapter and installs the camera
embedding (``dream3d.guidance.camera_embedding``) only for its own UNet calls.

Image space (``space: latent+image``): HiFA's image term (Zhu et al. 2023, arXiv:2305.18766,
sec. 3.2; ``dream3d.guidance.sds``) carried over to VSD. In latents the VSD gradient is the gap
between the two branches' one-step estimates ``z0_hat = (z_t - sigma_t eps) / alpha_t``:

    w(t) (eps_pretrained_cfg - eps_lora) = w(t) (alpha_t / sigma_t) (z0_lora - z0_pretrained),

and the image term takes that gap after the decoder D, from the same draw:

    grad_x = w(t) (alpha_t / sigma_t) (D(z0_lora) - D(z0_pretrained)).

Where the LoRA predicts the true noise (a single render, SDS's particle), ``z0_lora = z`` and
this is HiFA's SDS term ``w (alpha / sigma) (x - D(z0_pretrained))`` with ``D(z)`` for ``x``.
The loss is the latent term plus ``image_weight`` times the image term.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dream3d.cameras import Cameras
from dream3d.guidance.camera_embedding import (
    CameraEmbedding,
    attach,
    camera_condition,
    check_class_embedding_free,
    time_embedding_dim,
)
from dream3d.guidance.diffusion import NoisyLatents, classifier_free_guidance, noise_latents
from dream3d.guidance.sds import SDS, GuidanceConfig, finish_gradient, latents_surrogate_loss, resize_to_prior
from dream3d.guidance.vsd_config import VSDConfig
from dream3d.interfaces import Condition, Conditioning, Prior

log = logging.getLogger(__name__)

ADAPTER_NAME = "vsd"
"""Name of the LoRA adapter that VSD adds to the prior's UNet."""


class LoRAWeights(nn.Module):
    """The adapter's ``lora_A``/``lora_B`` layers gathered from a UNet, for checkpoints and Adam.

    The layers are shared with the UNet (not copied), so ``load_state_dict`` here restores
    the adapter in place. Keys are the UNet module names with ``.`` replaced by ``__``.
    """

    def __init__(self, unet: nn.Module, adapter_name: str):
        super().__init__()
        self.layers = nn.ModuleDict()
        for name, module in unet.named_modules():
            for kind in ("lora_A", "lora_B"):
                table = getattr(module, kind, None)
                if isinstance(table, nn.ModuleDict) and adapter_name in table:
                    self.layers[f"{name}.{kind}".replace(".", "__")] = table[adapter_name]
        if not self.layers:
            raise ValueError("The LoRA adapter matched no UNet layer; check guidance.vsd.lora_target_modules.")


def add_lora_adapter(unet: nn.Module, config: VSDConfig, adapter_name: str = ADAPTER_NAME) -> LoRAWeights:
    """Add a fresh LoRA adapter (disabled) to ``unet``; returns its fp32 weights.

    ``lora_B`` starts at zero (peft's default), so the adapted UNet starts equal to the prior.
    An adapter of the same name from an earlier VSD on the same prior is replaced.
    """
    from peft import LoraConfig

    if not hasattr(unet, "add_adapter"):
        raise ValueError("VSD needs a diffusers UNet with the peft adapter API (unet.add_adapter).")
    if adapter_name in (getattr(unet, "peft_config", None) or {}):
        unet.delete_adapters(adapter_name)
    lora_config = LoraConfig(
        r=config.lora_rank, lora_alpha=config.lora_alpha, target_modules=list(config.lora_target_modules),
        init_lora_weights=True,
    )
    unet.add_adapter(lora_config, adapter_name=adapter_name)
    unet.disable_adapters()
    weights = LoRAWeights(unet, adapter_name).float()  # fp32 even on an fp16 prior
    weights.requires_grad_(True)
    return weights


def adapter_layers(unet: nn.Module) -> list[nn.Module]:
    """The UNet's peft adapter layers (``BaseTunerLayer``), in module order."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [m for m in unet.modules() if isinstance(m, BaseTunerLayer)]


def set_adapters_enabled(layers: list[nn.Module], enabled: bool) -> None:
    """Enable or disable the adapter of each peft layer (what ``unet.enable_adapters`` does)."""
    for layer in layers:
        layer.enable_adapters(enabled)


class VSD:
    """Variational score distillation from a frozen prior and a camera-conditioned LoRA of it.

    The guidance owns trainable state: ``state_modules()`` (LoRA and camera embedding)
    and ``optimizers()`` (their Adam), which the recipe engine checkpoints and steps. Its
    pretrained branch, timestep draw and weighting are SDS's.
    """

    def __init__(self, prior: Prior, config: GuidanceConfig, max_steps: int):
        self.prior = prior
        self.config = config
        self.vsd_config: VSDConfig = config.vsd
        if config.space not in ("latent", "latent+image"):
            raise ValueError(f"system.guidance.space must be 'latent' or 'latent+image' for VSD, got {config.space!r}")
        self.sds = SDS(prior, config, max_steps)  # the pretrained branch, schedule and weighting
        unet = prior.unet
        check_class_embedding_free(unet)
        self.lora = add_lora_adapter(unet, self.vsd_config)
        self.adapter_layers = adapter_layers(unet)
        self.camera = CameraEmbedding(time_embedding_dim(unet), self.vsd_config.camera_hidden_dim)
        self.camera.to(prior.device)
        params = list(self.lora.parameters()) + list(self.camera.parameters())
        self.optimizer = torch.optim.Adam(params, lr=self.vsd_config.lora_lr, betas=self.vsd_config.lora_adam_betas)
        log.info("VSD: LoRA rank %d on %d UNet layers (%d trainable parameters)", self.vsd_config.lora_rank,
                 len(self.lora.layers) // 2, sum(p.numel() for p in params))

    @property
    def schedule(self):
        """The timestep schedule of the distillation (shared with SDS)."""
        return self.sds.schedule

    # ------------------------------------------------------------ trainable state
    def state_modules(self) -> dict[str, nn.Module]:
        """Modules whose state a checkpoint must hold."""
        return {"lora": self.lora, "camera": self.camera}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The LoRA's own optimizer (stepped with the scene's)."""
        return {"lora": self.optimizer}

    # ------------------------------------------------------------ the two branches
    @contextlib.contextmanager
    def lora_branch(self) -> Iterator[None]:
        """Within this block the UNet runs with the adapter and the camera embedding.

        It toggles the adapter layers found once at construction (peft's
        ``BaseTunerLayer.enable_adapters``, which ``unet.enable_adapters()`` calls on every
        module it finds) to avoid walking the whole UNet twice per call. Disabling clears
        ``requires_grad`` of the adapter weights; it is set again on exit so that a LoRA
        loss built inside the block still back-propagates after it.
        """
        unet = self.prior.unet
        set_adapters_enabled(self.adapter_layers, True)
        attach(unet, self.camera)
        try:
            yield
        finally:
            attach(unet, None)
            set_adapters_enabled(self.adapter_layers, False)
            self.lora.requires_grad_(True)

    def lora_noise(self, noisy: Tensor, t: Tensor, cond: Conditioning, cameras: Tensor) -> Tensor:
        """The LoRA's prediction ``[B,C,h,w]`` for flattened cameras ``[B,16]`` (no gradient).

        With ``lora_guidance_scale != 1`` it is guided over the camera condition:
        ``eps(no camera) + s * (eps(camera) - eps(no camera))``.
        """
        scale = self.vsd_config.lora_guidance_scale
        with torch.no_grad(), self.lora_branch():
            if scale == 1.0:
                return self.prior.predict_noise(noisy, t, cond.with_class_labels(cameras))
            both = Conditioning.cat([cond.with_class_labels(cameras), cond.with_class_labels(torch.zeros_like(cameras))])
            eps_camera, eps_plain = self.prior.predict_noise(torch.cat([noisy, noisy]), torch.cat([t, t]), both).chunk(2)
        return classifier_free_guidance(eps_plain, eps_camera, scale)

    # ------------------------------------------------------------ VSD
    def branch_noises(self, latents: Tensor, cameras: Cameras, condition: Condition, step: int
                      ) -> tuple[NoisyLatents, Tensor, Tensor]:
        """One draw and the two branches' predictions on it: ``(draw, eps_pretrained_cfg, eps_lora)``.

        Random draws, in order: ``t`` from the schedule, then the noise ``[B,C,h,w]``.
        """
        draw = self.sds.draw(latents, step)
        eps_pretrained = self.sds.pretrained_noise(draw, cameras, condition)
        cond, _ = condition.for_cameras(cameras)
        eps_lora = self.lora_noise(draw.noisy, draw.t, cond, camera_condition(cameras.c2w))
        return draw, eps_pretrained, eps_lora

    def latent_gradient(self, latents: Tensor, cameras: Cameras, condition: Condition, step: int) -> tuple[Tensor, dict]:
        """``w(t) (eps_pretrained_cfg - eps_lora)`` for latents ``[B,C,h,w]``, and stats."""
        return self.latent_term(*self.branch_noises(latents, cameras, condition, step))

    def latent_term(self, draw: NoisyLatents, eps_pretrained: Tensor, eps_lora: Tensor) -> tuple[Tensor, dict]:
        """``w(t) (eps_pretrained_cfg - eps_lora)`` of one draw, finished (NaNs, clamp), and its stats."""
        return finish_gradient(self.sds.weight(draw.t) * (eps_pretrained - eps_lora), draw.t, self.config.grad_clip)

    def decoded_residual(self, draw: NoisyLatents, eps_pretrained: Tensor, eps_lora: Tensor) -> Tensor:
        """``w(t) (alpha_t / sigma_t) (D(z0_lora) - D(z0_pretrained))`` ``[B,3,H,W]`` (the image term)."""
        abar = self.prior.alphas_cumprod[draw.t].view(-1, 1, 1, 1).to(draw.noisy.dtype)
        alpha, sigma = abar.sqrt(), (1.0 - abar).sqrt()
        with torch.no_grad():
            both = torch.cat([self.prior.clean_latents(draw.noisy, eps, draw.t) for eps in (eps_lora, eps_pretrained)])
            decoded_lora, decoded_pretrained = self.prior.decode_latents(both).float().chunk(2)
        return self.sds.weight(draw.t) * (alpha / sigma) * (decoded_lora - decoded_pretrained)

    def both_gradients(self, latents: Tensor, cameras: Cameras, condition: Condition, step: int
                       ) -> tuple[Tensor, Tensor, dict]:
        """The latent and the image gradient of one draw."""
        draw, eps_pretrained, eps_lora = self.branch_noises(latents.detach(), cameras, condition, step)
        latent_grad, stats = self.latent_term(draw, eps_pretrained, eps_lora)
        image_grad, image_stats = finish_gradient(self.decoded_residual(draw, eps_pretrained, eps_lora), draw.t,
                                                  self.config.grad_clip)
        return latent_grad, image_grad, {**stats, "image_grad_norm": image_stats["grad_norm"]}

    def lora_timesteps(self, batch: int, device: torch.device) -> Tensor:
        """Timesteps ``[B]`` of the LoRA's denoising loss, uniform in ``lora_timestep_range``."""
        n = self.prior.num_train_timesteps
        low, high = self.vsd_config.lora_timestep_range
        t_low = min(max(int(low * n), 0), n - 1)
        t_high = min(max(int(high * n) - 1, t_low), n - 1)
        return torch.randint(t_low, t_high + 1, (batch,), dtype=torch.long).to(device)

    def lora_loss(self, latents: Tensor, cameras: Cameras, condition: Condition, keep_camera: Tensor | None = None) -> Tensor:
        """Denoising loss of the LoRA on detached latents ``[B,C,h,w]`` (its own t and noise).

        Random draws, in order: the camera dropout ``[B]`` (unless ``keep_camera`` is given),
        the timesteps ``[B]``, the noise ``[B,C,h,w]``.
        """
        latents = latents.detach()
        batch = latents.shape[0]
        if keep_camera is None:
            keep_camera = torch.rand(batch) >= self.vsd_config.camera_condition_dropout
        draw = noise_latents(self.prior, latents, self.lora_timesteps(batch, latents.device))
        cond, _ = condition.for_cameras(cameras)
        with self.lora_branch():
            eps = self.prior.predict_noise(draw.noisy, draw.t, cond.with_class_labels(camera_condition(cameras.c2w, keep_camera)))
        return F.mse_loss(eps, draw.noise)

    def loss(self, images: Tensor, cameras: Cameras, condition: Condition, step: int) -> tuple[Tensor, dict]:
        """``vsd + lora`` for renders ``[B,3,H,W]`` in [0,1].

        The gradient reaching the images is exactly the VSD gradient (the LoRA term sees only
        detached latents); the LoRA term's gradient reaches only the LoRA and camera weights.
        """
        images = resize_to_prior(images, self.prior.image_size)
        latents = self.prior.encode_images(images).float()
        if self.config.space == "latent+image":
            latent_grad, image_grad, stats = self.both_gradients(latents, cameras, condition, step)
            vsd = latents_surrogate_loss(latents, latent_grad) + self.config.image_weight * latents_surrogate_loss(images, image_grad)
        else:
            grad, stats = self.latent_gradient(latents, cameras, condition, step)
            vsd = latents_surrogate_loss(latents, grad)
        lora = self.lora_loss(latents, cameras, condition)
        stats["lora"] = float(lora.detach())
        return vsd + lora, stats
