"""Train the bundled view-conditioned prior ``dream3d-views`` on 2 CPU cores (image-to-3D).

    python -m dream3d.prior.train_views --out extern/priors/dream3d-views \
        --vae-from extern/priors/dream3d-shapes-v2 [--quick]

Zero123's architecture at small size (``dream3d.prior.view_conditioned``), trained on
pairs of views of the same world-v2 object from two random dataset cameras:

- the target view's latent is noised; the UNet sees it concatenated with the reference
  view's unscaled VAE latent (8 channels);
- its cross-attention reads one token: the reference's image embedding (a small
  ``CLIPVisionModelWithProjection``, trained here) joined with Zero123's relative pose
  and projected (``CameraProjection``);
- 10% of the examples drop both, so classifier-free guidance works (Zero123's recipe);
- the objective is DDPM's noise prediction (Ho et al. 2020) with Min-SNR-gamma weights
  (Hang et al. 2023), as the text prior's.

The VAE is the text prior's, frozen and shipped again beside this prior, so both priors
see the same latents. Two options are for experiments, neither used by the shipped prior:
``--focus-steps`` adds a phase weighted to chosen shapes (``dream3d.prior.focus_phase``), and
``--pose-labels`` also feeds the pose to every UNet block (``benchmarks/view-samples-2d.md``). Stages checkpoint into ``--work-dir`` (default: the output folder's
name plus ``.work``); running the command again after a stop goes on from there.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor

from dream3d.allocator import keep_freed_memory
from dream3d.prior import shapes_data
from dream3d.prior.focus_phase import FocusPhaseConfig, focus_images, with_pose_labels
from dream3d.prior.image_condition import zero123_pose
from dream3d.prior.shapes_data import ShapesDataConfig
from dream3d.prior.train_shapes import encode_dataset, make_scheduler
from dream3d.prior.training_state import (
    add_run_arguments,
    apply_run_arguments,
    begin_training,
    denoiser_optimisation,
    epsilon_loss,
    publish,
    restore,
    save,
    snapshot,
    stage,
    tail,
    update,
    write_training_log,
)
from dream3d.prior.view_conditioned import CLIP_MEAN, CLIP_STD, POSE_LABELS, CameraProjection, reads_pose_labels
from dream3d.prior.view_phase import draw_batch


@dataclass
class ViewSizes:
    """Model sizes."""

    unet_channels: tuple[int, ...] = (48, 96, 96)
    norm_groups: int = 16
    attention_heads: int = 4
    token_dim: int = 64
    """Width of the cross-attention token (the projection's output)."""
    encoder_width: int = 64
    encoder_layers: int = 2
    encoder_patch: int = 8
    embedding_dim: int = 64
    """Width of the image embedding (the encoder's projection)."""
    pose_labels: bool = False
    """The UNet also reads the relative pose in every block, through its timestep embedding
    (``class_embed_type: projection``), besides the cross-attention token; not in Zero123's layout."""


@dataclass
class TrainViewsConfig:
    """Everything that determines the trained prior (saved beside it)."""

    seed: int = 0
    threads: int = 2
    vae_from: str = "extern/priors/dream3d-shapes-v2"
    """The text prior whose VAE this prior shares."""
    data: ShapesDataConfig = field(default_factory=lambda: ShapesDataConfig(
        views_per_pair=128, zoom_groups=4, zoom_range=(0.8, 1.3)))
    """Scale augmentation (zoom groups; reference and target always share a zoom), so that an
    input framed larger or smaller than the world's camera frames it still reads right."""
    sizes: ViewSizes = field(default_factory=ViewSizes)
    steps: int = 6000
    batch: int = 32
    lr: float = 1e-3
    warmup_steps: int = 200
    min_snr_gamma: float = 5.0
    ema_decay: float = 0.999
    drop_condition: float = 0.1
    """Share of examples trained without the reference (zeros), for classifier-free guidance."""
    checkpoint_every: int = 250
    focus: FocusPhaseConfig = field(default_factory=FocusPhaseConfig)
    """An optional phase after the main one that weights the shapes drawn worst (none by default:
    ``dream3d.prior.focus_phase``)."""


def quick_config(vae_from: str, seed: int = 0) -> TrainViewsConfig:
    """A seconds-long run with tiny models, for tests."""
    sizes = ViewSizes(unet_channels=(16, 16, 32), norm_groups=8, attention_heads=2, token_dim=16, encoder_width=16,
                      encoder_layers=1, encoder_patch=16, embedding_dim=8)
    data = ShapesDataConfig(views_per_pair=4, supersample=1, zoom_groups=2, zoom_range=(0.8, 1.3))
    return TrainViewsConfig(seed=seed, threads=1, vae_from=vae_from, data=data, sizes=sizes, steps=3, batch=4,
                            warmup_steps=1)


def build_models(sizes: ViewSizes, latent_channels: int, latent_size: int):
    """Fresh ``(unet, image_encoder, projection)``."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    n = len(sizes.unet_channels)
    unet = UNet2DConditionModel(
        sample_size=latent_size, in_channels=2 * latent_channels, out_channels=latent_channels, layers_per_block=1,
        block_out_channels=sizes.unet_channels, down_block_types=("CrossAttnDownBlock2D",) * (n - 1) + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (n - 1), cross_attention_dim=sizes.token_dim,
        attention_head_dim=sizes.attention_heads, norm_num_groups=sizes.norm_groups,
        **(POSE_LABELS if sizes.pose_labels else {}),
    )
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=sizes.encoder_width, intermediate_size=2 * sizes.encoder_width, num_hidden_layers=sizes.encoder_layers,
        num_attention_heads=max(1, sizes.encoder_width // 32), image_size=64, patch_size=sizes.encoder_patch,
        projection_dim=sizes.embedding_dim,
    ))
    projection = CameraProjection(in_channel=sizes.embedding_dim + 4, out_channel=sizes.token_dim)
    return unet, encoder, projection


def object_groups(data: shapes_data.ShapesDataset) -> Tensor:
    """For each image, the index of its (colour, shape, zoom) group, ``[N]``: a reference and
    its target show one object at one zoom, as two cameras with the same lens would."""
    zooms = data.zooms.tolist() if data.zooms is not None else [1.0] * len(data)
    keys = list(zip(data.colours, data.shapes, zooms))
    index = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    return torch.tensor([index[key] for key in keys])


def reference_partners(groups: Tensor, generator: torch.Generator, targets: Tensor) -> Tensor:
    """A random other view of the same object for each target image index."""
    partners = []
    for i in targets.tolist():
        members = torch.nonzero(groups == groups[i]).squeeze(1)
        partners.append(int(members[torch.randint(len(members), (1,), generator=generator)]))
    return torch.tensor(partners)


def train_network(unet, encoder, projection, scheduler, data: shapes_data.ShapesDataset, latents: tuple[Tensor, Tensor],
                  scale: float, cfg: TrainViewsConfig, generator: torch.Generator, checkpoint: Path | None,
                  focus: FocusPhaseConfig | None = None) -> list[float]:
    """The denoiser, the image encoder and the projection together; returns the losses.

    Without ``focus`` this is the main phase. With it, the focus phase: its own steps, learning
    rate and generator, and a share of each batch's targets drawn from the focus shapes."""
    from tqdm.auto import tqdm

    means, stds = latents
    groups = object_groups(data)
    params = [*unet.parameters(), *encoder.parameters(), *projection.parameters()]
    for module in (unet, encoder, projection):
        module.train()
    if focus is None:
        name, steps, lr, warmup, chosen, share, cap = "views", cfg.steps, cfg.lr, cfg.warmup_steps, None, 0.0, 1.0
    else:
        name, steps, lr, warmup = "views, focus", focus.steps, focus.lr, focus.warmup_steps
        chosen, share, cap = focus_images(data.shapes, focus.shapes), focus.share, focus.high_noise_cap
        generator = torch.Generator().manual_seed(cfg.seed + focus.seed_offset)  # its own (see FocusPhaseConfig)
    optimizer, schedule, ema = denoiser_optimisation(params, lr, warmup, steps, cfg.ema_decay)
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    parts = {"unet": unet, "encoder": encoder, "projection": projection, "optimizer": optimizer, "schedule": schedule,
             "ema": ema}
    losses, first = restore(checkpoint, parts, generator)
    bar = tqdm(range(first, steps), desc=name, initial=first, total=steps)
    for step in bar:
        if chosen is None:
            target = torch.randint(0, len(data), (cfg.batch,), generator=generator)
        else:
            target = draw_batch(cfg.batch, len(data), chosen, share, generator)[0]
        reference = reference_partners(groups, generator, target)
        change = data.cameras[target] - data.cameras[reference]  # [B,3] elevation, azimuth, distance
        pose = zero123_pose(change[:, 0], change[:, 1], change[:, 2])
        pixels = (data.images[reference].float() / 255.0 - mean) / std
        token = projection(torch.cat([encoder(pixels).image_embeds, pose], -1))[:, None]  # [B,1,D]
        concat = means[reference]
        keep = (torch.rand(cfg.batch, generator=generator) >= cfg.drop_condition).float()
        token, concat = token * keep.view(-1, 1, 1), concat * keep.view(-1, 1, 1, 1)
        labels = pose * keep.view(-1, 1) if reads_pose_labels(unet) else None
        z0 = (means[target] + stds[target] * torch.randn(means[target].shape, generator=generator)) * scale
        noise = torch.randn(z0.shape, generator=generator)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (cfg.batch,), generator=generator)
        eps = unet(torch.cat([scheduler.add_noise(z0, noise, t), concat], 1), t, encoder_hidden_states=token,
                   class_labels=labels).sample
        loss = epsilon_loss(eps, noise, scheduler.alphas_cumprod, t, cfg.min_snr_gamma, cap)
        update(loss, optimizer, params, schedule, ema)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{sum(losses[-100:]) / len(losses[-100:]):.4f}")
        if checkpoint is not None and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < steps:
            save(checkpoint, snapshot(parts, generator, None, losses, step + 1))
    ema.copy_to(params)
    for module in (unet, encoder, projection):
        module.eval()
    return losses


def write_folder(folder: Path, unet, vae, encoder, projection, scheduler, log: dict) -> None:
    """Save the Zero123 layout that ``ViewConditionedPrior.from_pretrained`` reads."""
    from transformers import CLIPImageProcessor

    for name, module in (("unet", unet), ("vae", vae), ("image_encoder", encoder), ("cc_projection", projection)):
        module.save_pretrained(folder / name, safe_serialization=True)
    scheduler.save_pretrained(folder / "scheduler")
    CLIPImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}, image_mean=list(CLIP_MEAN),
                       image_std=list(CLIP_STD)).save_pretrained(folder / "feature_extractor")
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "Zero1to3StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"], "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
        "cc_projection": ["dream3d.prior.view_conditioned", "CameraProjection"],
        "scheduler": ["diffusers", "DDPMScheduler"], "feature_extractor": ["transformers", "CLIPImageProcessor"],
    }, indent=1) + "\n")
    write_training_log(folder, log)


def train(out: Path, cfg: TrainViewsConfig, work: Path | None = None) -> dict:
    """Every stage, then the folder at ``out`` (written beside it, then renamed); returns the log."""
    from diffusers import AutoencoderKL

    start = time.time()
    # a wrong --vae-from fails here, before anything is written
    vae = AutoencoderKL.from_pretrained(cfg.vae_from, subfolder="vae", local_files_only=True).eval().requires_grad_(False)
    work, generator = begin_training(out, work, cfg.threads, cfg.seed)
    log: dict = {"config": asdict(cfg)}
    data = stage(work / "dataset.pt", log, "render", lambda: shapes_data.build_dataset(cfg.data))
    log["images"] = len(data)
    latents = encode_dataset(vae, data.images)
    scale = float(vae.config.scaling_factor)
    unet, encoder, projection = build_models(cfg.sizes, latents[0].shape[1], latents[0].shape[-1])
    scheduler = make_scheduler()
    modules = {"unet": unet, "encoder": encoder, "projection": projection}

    def fit(name: str, focus: FocusPhaseConfig | None) -> dict:
        losses = train_network(modules["unet"], encoder, projection, scheduler, data, latents, scale, cfg, generator,
                               work / f"{name}.ckpt", focus)
        return {**{key: module.state_dict() for key, module in modules.items()}, "losses": losses}

    phases = [("views", None)] + ([("views_focus", cfg.focus)] if cfg.focus.steps else [])
    for name, focus in phases:
        if focus is not None and focus.pose_labels and not reads_pose_labels(unet):
            unet = modules["unet"] = with_pose_labels(unet)
        fitted = stage(work / f"{name}.pt", log, name, lambda name=name, focus=focus: fit(name, focus))
        for key, module in modules.items():
            module.load_state_dict(fitted[key])
        log[f"{name}_final_loss"] = tail(fitted["losses"])
    log.update(total_seconds=round(time.time() - start, 1))
    publish(out, lambda folder: write_folder(folder, unet, vae, encoder, projection, scheduler, log))
    return log


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (Zero123 layout)")
    parser.add_argument("--vae-from", default=None, help="the text prior whose VAE is shared")
    parser.add_argument("--pose-labels", action="store_true",
                        help="the UNet also reads the pose in every block (its timestep embedding), from the start")
    parser.add_argument("--focus-steps", type=int, default=None, help="steps of a focus phase after the main one (default 0: none)")
    parser.add_argument("--focus-shapes", nargs="+", default=None, help="the focus phase's shapes (default chair pyramid)")
    parser.add_argument("--focus-share", type=float, default=None,
                        help="share of each focus-phase batch drawn from the focus shapes (default 0.5)")
    parser.add_argument("--focus-pose-labels", action="store_true",
                        help="the focus phase also feeds the pose to every UNet block (its timestep embedding)")
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    keep_freed_memory()
    vae_from = args.vae_from or TrainViewsConfig.vae_from
    cfg = quick_config(vae_from, args.seed) if args.quick else TrainViewsConfig(seed=args.seed, vae_from=vae_from)
    cfg.data.seed = args.seed
    apply_run_arguments(cfg, args)
    cfg.focus = focus_from(parser, args, cfg.focus)
    cfg.sizes.pose_labels = cfg.sizes.pose_labels or args.pose_labels
    try:
        log = train(args.out, cfg, args.work_dir)
    except OSError as error:
        if (Path(cfg.vae_from) / "vae").is_dir():
            raise
        print(f"error: --vae-from {cfg.vae_from} has no vae/ folder ({error}).\nPass the text prior whose VAE is shared, "
              f"e.g. --vae-from {TrainViewsConfig.vae_from}.", file=sys.stderr)
        raise SystemExit(2) from None
    print(json.dumps({k: v for k, v in log.items() if k != "config"}, indent=1))


def focus_from(parser: argparse.ArgumentParser, args: argparse.Namespace, default: FocusPhaseConfig) -> FocusPhaseConfig:
    """The focus phase the options ask for; a bad value exits 2, naming its option, before any work."""
    values = {"steps": args.focus_steps, "shapes": args.focus_shapes, "share": args.focus_share,
              "pose_labels": args.focus_pose_labels or None}
    try:
        return replace(default, **{key: value for key, value in values.items() if value is not None})
    except ValueError as error:
        field_name = str(error).split()[0]
        flag = {"steps": "--focus-steps", "share": "--focus-share"}.get(field_name, "--focus-shapes")
        parser.error(f"{flag}: {error}")


if __name__ == "__main__":
    main()
