"""Train the bundled prior (docs/bundled-prior.md, docs/bundled-world-v2.md) on 2 CPU cores.

    python -m dream3d.prior.train_shapes --out extern/priors/dream3d-shapes-v2 [--quick]

Every stage checkpoints into ``--work-dir`` (default: the output folder's name plus
``.work``): the rendered dataset, the trained VAE, and the UNet and text encoder every
``checkpoint_every`` steps. Run the same command again after a stop and it continues
where it stopped.

Stages: render the dataset (``shapes_data``); train the ``AutoencoderKL`` (64x64x3 ->
16x16x4); encode the dataset once; train the ``UNet2DConditionModel`` and the
``CLIPTextModel`` together with the DDPM noise-prediction objective (Ho et al. 2020,
"Denoising Diffusion Probabilistic Models", eq. 14) weighted by Min-SNR-gamma (Hang et al.
2023, "Efficient Diffusion Training via Min-SNR Weighting Strategy"), with about 10% empty
captions for classifier-free guidance (Ho & Salimans 2022); then two more UNet phases that
teach the view words (``dream3d.prior.view_phase``; ``--view-steps 0`` leaves them out).
The result is saved as a diffusers ``StableDiffusionPipeline`` folder plus ``vocabulary.json``.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from dream3d.allocator import keep_freed_memory
from dream3d.prior import shapes_data
from dream3d.prior.shapes_data import CaptionConfig, ShapesDataConfig
from dream3d.prior.view_phase import (SHIPPED_VIEW_PHASES, ViewPhaseConfig, draw_batch, featured_captions,
                                      featured_views, featured_weights, phase_generators)
from dream3d.prior.view_phase_options import add_view_arguments, view_phases_from
from dream3d.prior.training_state import (
    add_run_arguments,
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

SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")


@dataclass
class Sizes:
    """Model sizes (the defaults keep one SDS step far below 80 ms on 2 cores)."""

    vae_channels: tuple[int, ...] = (16, 32, 64)
    """AutoencoderKL block channels; len 3 gives a downsampling factor of 4."""
    unet_channels: tuple[int, ...] = (48, 96, 96)
    """UNet block channels at 16x16, 8x8 and 4x4."""
    norm_groups: int = 16
    """GroupNorm groups of both models (divides every channel count)."""
    attention_heads: int = 4
    """Heads of the UNet's attention layers."""
    text_hidden: int = 64
    """Width of the text encoder, and the UNet's cross-attention dimension."""
    text_layers: int = 2
    """Transformer layers of the text encoder."""
    max_tokens: int = 12
    """Tokens per prompt, start and end tokens included."""


@dataclass
class TrainConfig:
    """Everything that determines the trained prior (saved next to it)."""

    seed: int = 0
    """Seed of the dataset cameras, captions, initial weights and noise."""
    threads: int = 2
    """torch CPU threads."""
    data: ShapesDataConfig = field(default_factory=lambda: ShapesDataConfig(views_per_pair=160))
    captions: CaptionConfig = field(default_factory=CaptionConfig)
    sizes: Sizes = field(default_factory=Sizes)
    vae_steps: int = 2500
    vae_batch: int = 32
    vae_lr: float = 2e-3
    kl_weight: float = 1e-3
    """Weight of the KL term of the VAE (relative to the L1 + L2 reconstruction, per pixel).
    At 1e-5 (version 1) the latents were all but unregularised, and the VAE's round trip of
    true renders drew a coloured speck at a fixed place that the prior then learned; at 1e-3
    that round trip is clean in 31 of 32 "red cube, side view" renders (docs/bundled-world-v2.md)."""
    unet_steps: int = 4000
    unet_batch: int = 32
    unet_lr: float = 1e-3
    warmup_steps: int = 200
    min_snr_gamma: float = 5.0
    ema_decay: float = 0.999
    """Largest decay of the exponential moving average of the UNet and text weights."""
    view_phases: tuple[ViewPhaseConfig, ...] = SHIPPED_VIEW_PHASES
    """The UNet phases after the first, in order, which teach the view words (empty: none)."""
    checkpoint_every: int = 250
    """VAE and UNet steps between checkpoints of the training state."""


def quick_config(seed: int = 0) -> TrainConfig:
    """A seconds-long run with tiny models, for tests and smoke checks."""
    sizes = Sizes(vae_channels=(8, 8, 8), unet_channels=(16, 16, 32), norm_groups=8, attention_heads=2, text_hidden=16, text_layers=1)
    return TrainConfig(seed=seed, threads=1, data=ShapesDataConfig(views_per_pair=1, supersample=1), sizes=sizes,
                       vae_steps=3, vae_batch=8, unet_steps=3, unet_batch=8, warmup_steps=1,
                       view_phases=(ViewPhaseConfig(steps=3, warmup_steps=1),
                                    ViewPhaseConfig(steps=3, warmup_steps=1, chair_share=0.75)))


def build_tokenizer(words: list[str], directory: Path, max_tokens: int):
    """A ``CLIPTokenizer`` whose BPE merges spell every caption word as one token.

    The vocabulary holds the special tokens, every single character (alone and
    word-final) and, for each word, the chain of merges that builds it left to right.
    """
    from transformers import CLIPTokenizer

    chars = sorted({c for w in words for c in w} | set("abcdefghijklmnopqrstuvwxyz,"))
    vocab = list(SPECIAL_TOKENS) + chars + [c + "</w>" for c in chars]
    merges: list[tuple[str, str]] = []
    for word in list(words) + [","]:
        # Later merges rank below earlier ones, so appending never changes earlier words.
        pieces = _bpe(list(word[:-1]) + [word[-1] + "</w>"], {m: r for r, m in enumerate(merges)})
        while len(pieces) > 1:
            merges.append((pieces[0], pieces[1]))
            pieces = [pieces[0] + pieces[1]] + pieces[2:]
            vocab.append(pieces[0])
    vocab = list(dict.fromkeys(vocab))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    tokenizer = CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"),
                              model_max_length=max_tokens, pad_token="<|endoftext|>")
    for word in list(words) + [","]:
        ids = tokenizer(word, add_special_tokens=False).input_ids
        if len(ids) != 1 or ids[0] == tokenizer.unk_token_id:
            raise RuntimeError(f"tokenizer splits {word!r} into {ids}")
    return tokenizer


def _bpe(pieces: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Byte-pair merging as CLIP's tokenizer does it: best-ranked adjacent pair first."""
    while len(pieces) > 1:
        pairs = [(ranks.get(p, math.inf), i) for i, p in enumerate(zip(pieces, pieces[1:]))]
        rank, i = min(pairs)
        if rank == math.inf:
            break
        pieces = pieces[:i] + [pieces[i] + pieces[i + 1]] + pieces[i + 2:]
    return pieces


def build_models(sizes: Sizes, vocab_size: int):
    """Fresh ``(vae, unet, text_encoder)`` of the given sizes (diffusers / transformers)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    levels = len(sizes.vae_channels)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=sizes.vae_channels,
        down_block_types=("DownEncoderBlock2D",) * levels, up_block_types=("UpDecoderBlock2D",) * levels,
        layers_per_block=1, norm_num_groups=sizes.norm_groups, sample_size=64, mid_block_add_attention=False,
    )
    n = len(sizes.unet_channels)
    unet = UNet2DConditionModel(
        sample_size=64 // 2 ** (levels - 1), in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=sizes.unet_channels,
        down_block_types=("CrossAttnDownBlock2D",) * (n - 1) + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (n - 1),
        cross_attention_dim=sizes.text_hidden, attention_head_dim=sizes.attention_heads,
        norm_num_groups=sizes.norm_groups,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=sizes.text_hidden, intermediate_size=2 * sizes.text_hidden,
        num_hidden_layers=sizes.text_layers, num_attention_heads=max(1, sizes.text_hidden // 32),
        max_position_embeddings=sizes.max_tokens, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    ))
    return vae, unet, text_encoder


def make_scheduler():
    """Stable Diffusion's DDPM schedule: 1000 steps, scaled-linear betas, epsilon prediction."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         prediction_type="epsilon", clip_sample=False, steps_offset=1)


def train_vae(vae, images: Tensor, cfg: TrainConfig, generator: torch.Generator,
              checkpoint: Path | None = None) -> list[float]:
    """Reconstruction (L1 + L2) plus a small KL term, AdamW with cosine decay.

    With ``checkpoint``, the training state is saved there every ``checkpoint_every`` steps,
    and a run that finds one continues from it.
    """
    from diffusers.optimization import get_cosine_schedule_with_warmup
    from tqdm.auto import tqdm

    vae.train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr, weight_decay=0.0)
    schedule = get_cosine_schedule_with_warmup(optimizer, min(cfg.warmup_steps, cfg.vae_steps // 10 + 1), cfg.vae_steps)
    parts = {"vae": vae, "optimizer": optimizer, "schedule": schedule}
    losses, first = restore(checkpoint, parts, generator)
    bar = tqdm(range(first, cfg.vae_steps), desc="vae", initial=first, total=cfg.vae_steps)
    for step in bar:
        index = torch.randint(0, images.shape[0], (cfg.vae_batch,), generator=generator)
        x = images[index].float() / 127.5 - 1.0  # [B,3,64,64] in [-1,1]
        posterior = vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=generator)
        recon = vae.decode(z).sample
        loss = F.l1_loss(recon, x) + F.mse_loss(recon, x) + cfg.kl_weight * posterior.kl().mean() / x[0].numel()
        update(loss, optimizer, list(vae.parameters()), schedule)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.4f}")
        if checkpoint is not None and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.vae_steps:
            save(checkpoint, snapshot(parts, generator, None, losses, step + 1))
    vae.eval()
    return losses


@torch.no_grad()
def encode_dataset(vae, images: Tensor, batch: int = 256) -> tuple[Tensor, Tensor]:
    """Unscaled posterior means and standard deviations ``[N,C,h,w]`` of uint8 images ``[N,3,H,W]``."""
    means, stds = [], []
    for start in range(0, images.shape[0], batch):
        x = images[start:start + batch].float() / 127.5 - 1.0
        posterior = vae.encode(x).latent_dist
        means.append(posterior.mean)
        stds.append(posterior.std)
    return torch.cat(means), torch.cat(stds)


def train_unet(unet, text_encoder, tokenizer, scheduler, latents: tuple[Tensor, Tensor], scale: float,
               data: shapes_data.ShapesDataset, cfg: TrainConfig, generator: torch.Generator,
               checkpoint: Path | None = None, view_phase: ViewPhaseConfig | None = None) -> list[float]:
    """DDPM epsilon objective (Ho et al. 2020) with Min-SNR-gamma weights; returns losses.

    Without ``view_phase`` this is the first phase. With it, the second: its own steps,
    learning rate and generators (``generator`` is then unused), a share of each batch from
    ``featured_views`` captioned with their view, and the high-noise steps weighted up
    (``dream3d.prior.view_phase``).

    With ``checkpoint``, the whole training state is saved there every ``checkpoint_every``
    steps (atomically), and a run that finds one continues from it.
    """
    from tqdm.auto import tqdm

    means, stds = latents  # [N,4,16,16] each
    params = list(unet.parameters()) + list(text_encoder.parameters())
    unet.train()
    text_encoder.train()
    if view_phase is None:
        name, steps, lr, warmup = "unet", cfg.unet_steps, cfg.unet_lr, cfg.warmup_steps
        cap, share, featured, weights = 1.0, 0.0, None, None  # plain Min-SNR weights, uniform batches
        rng = random.Random(cfg.seed)
    else:
        name, steps, lr, warmup = "unet, view words", view_phase.steps, view_phase.lr, view_phase.warmup_steps
        cap, share, featured = view_phase.high_noise_cap, view_phase.featured_share, featured_views(data)
        weights = featured_weights(data, featured, view_phase.chair_share)
        generator, rng = phase_generators(cfg.seed, view_phase)  # its own, not the caller's (see ViewPhaseConfig)
    with_view = featured_captions(cfg.captions)
    text_scale = 1.0 if view_phase is None else view_phase.text_lr_scale
    groups = None if text_scale == 1.0 else [{"params": list(unet.parameters()), "lr": lr},
                                             {"params": list(text_encoder.parameters()), "lr": lr * text_scale}]
    optimizer, schedule, ema = denoiser_optimisation(params, lr, warmup, steps, cfg.ema_decay, groups)
    alphas_cumprod = scheduler.alphas_cumprod  # [T]
    token_cache: dict[str, Tensor] = {}
    parts = {"unet": unet, "text_encoder": text_encoder, "optimizer": optimizer, "schedule": schedule, "ema": ema}
    losses, first = restore(checkpoint, parts, generator, rng)
    bar = tqdm(range(first, steps), desc=name, initial=first, total=steps)
    for step in bar:
        index, n_featured = draw_batch(cfg.unet_batch, len(data), featured, share, generator, weights)
        z0 = (means[index] + stds[index] * torch.randn(means[index].shape, generator=generator)) * scale
        captions = [shapes_data.draw_caption(data.colours[i], data.shapes[i], data.views[i], rng,
                                             with_view if k < n_featured else cfg.captions)
                    for k, i in enumerate(index.tolist())]
        for text in captions:
            if text not in token_cache:
                token_cache[text] = tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length,
                                              truncation=True, return_tensors="pt").input_ids[0]
        ids = torch.stack([token_cache[c] for c in captions])  # [B,L]
        noise = torch.randn(z0.shape, generator=generator)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (cfg.unet_batch,), generator=generator)
        zt = scheduler.add_noise(z0, noise, t)
        hidden = text_encoder(ids)[0]  # [B,L,D]
        eps = unet(zt, t, encoder_hidden_states=hidden).sample
        loss = epsilon_loss(eps, noise, alphas_cumprod, t, cfg.min_snr_gamma, cap)
        update(loss, optimizer, params, schedule, ema)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{sum(losses[-100:]) / len(losses[-100:]):.4f}")
        if checkpoint is not None and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < steps:
            save(checkpoint, snapshot(parts, generator, rng, losses, step + 1))
    ema.copy_to(params)
    unet.eval()
    text_encoder.eval()
    return losses


def train(out: Path, cfg: TrainConfig, work: Path | None = None) -> dict:
    """Run every stage and save the pipeline folder at ``out``; returns the training log.

    Stages already finished in ``work`` (default ``out`` + ``.work``) are loaded, not redone.
    """
    from diffusers import StableDiffusionPipeline

    start = time.time()
    work, generator = begin_training(out, work, cfg.threads, cfg.seed)
    log: dict = {"config": asdict(cfg)}

    data = stage(work / "dataset.pt", log, "render", lambda: shapes_data.build_dataset(cfg.data))
    log["images"] = len(data)

    words = shapes_data.vocabulary()
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = build_tokenizer(words, Path(tmp), cfg.sizes.max_tokens)
    vae, unet, text_encoder = build_models(cfg.sizes, len(tokenizer))
    scheduler = make_scheduler()

    def fit_vae() -> dict:
        losses = train_vae(vae, data.images, cfg, generator, checkpoint=work / "vae.ckpt")
        return {"state": vae.state_dict(), "losses": losses, "generator": generator.get_state()}

    fitted = stage(work / "vae.pt", log, "vae", fit_vae)
    vae.load_state_dict(fitted["state"])
    vae.eval()
    generator.set_state(fitted["generator"])
    means, stds = encode_dataset(vae, data.images)
    scale = float(1.0 / means.std())
    vae.register_to_config(scaling_factor=scale)
    log.update(vae_final_loss=tail(fitted["losses"]), scaling_factor=scale)

    def fit_unet() -> dict:
        losses = train_unet(unet, text_encoder, tokenizer, scheduler, (means, stds), scale, data, cfg, generator,
                            checkpoint=work / "unet.ckpt")
        return {"unet": unet.state_dict(), "text_encoder": text_encoder.state_dict(), "losses": losses}

    fitted = stage(work / "unet.pt", log, "unet", fit_unet)
    unet.load_state_dict(fitted["unet"])
    text_encoder.load_state_dict(fitted["text_encoder"])
    log.update(unet_final_loss=tail(fitted["losses"]))

    for number, phase in enumerate(cfg.view_phases, start=1):
        if phase.steps == 0:
            continue
        name = f"unet_view{number}"

        def fit_view_words(phase: ViewPhaseConfig = phase, name: str = name) -> dict:
            losses = train_unet(unet, text_encoder, tokenizer, scheduler, (means, stds), scale, data, cfg, generator,
                                checkpoint=work / f"{name}.ckpt", view_phase=phase)
            return {"unet": unet.state_dict(), "text_encoder": text_encoder.state_dict(), "losses": losses}

        fitted = stage(work / f"{name}.pt", log, name, fit_view_words)
        unet.load_state_dict(fitted["unet"])
        text_encoder.load_state_dict(fitted["text_encoder"])
        log[f"{name}_final_loss"] = tail(fitted["losses"])

    pipeline = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                       safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    def write(folder: Path) -> None:
        pipeline.save_pretrained(folder, safe_serialization=True)
        (folder / "vocabulary.json").write_text(json.dumps({"words": words}, indent=1) + "\n")
        log["total_seconds"] = round(time.time() - start, 1)
        write_training_log(folder, log)

    publish(out, write)
    return log


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (a StableDiffusionPipeline)")
    add_run_arguments(parser, steps=False)
    parser.add_argument("--views-per-pair", type=int, default=None)
    parser.add_argument("--vae-steps", type=int, default=None)
    parser.add_argument("--unet-steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None, help="UNet batch size")
    add_view_arguments(parser)
    args = parser.parse_args(argv)
    keep_freed_memory()
    cfg = quick_config(args.seed) if args.quick else TrainConfig(seed=args.seed)
    cfg.data.seed = args.seed
    if args.threads is not None:
        cfg.threads = args.threads
    if args.views_per_pair is not None:
        cfg.data.views_per_pair = args.views_per_pair
    if args.vae_steps is not None:
        cfg.vae_steps = args.vae_steps
    if args.unet_steps is not None:
        cfg.unet_steps = args.unet_steps
    if args.batch_size is not None:
        cfg.unet_batch = args.batch_size
    try:  # a bad value stops here, before minutes of rendering (exit code 2)
        cfg.view_phases = view_phases_from(args, cfg.view_phases)
    except ValueError as error:
        parser.error(str(error))
    log = train(args.out, cfg, args.work_dir)
    print(json.dumps({k: v for k, v in log.items() if k != "config"}, indent=1))


if __name__ == "__main__":
    main()
