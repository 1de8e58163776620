"""Train the bundled multi-view prior ``dream3d-mv`` on 2 CPU cores (MVDream at small size).

    python -m dream3d.prior.train_multiview --out extern/priors/dream3d-mv \
        --base extern/priors/dream3d-shapes-v2 [--quick]

MVDream (Shi et al. 2023, arXiv:2308.16512) fine-tunes a text-to-image UNet into a
multi-view one; this does the same to the bundled text prior:

- the UNet starts from the text prior's weights, with two additions (``dream3d.prior.multiview``):
  every self-attention spans the 4 views of an object, and a camera MLP (MVDream's
  ``camera_embed``, diffusers' projection class embedding) adds each view's camera to the
  timestep embedding. Its last layer starts at zero, so training starts from the text prior;
- the data are groups of 4 views of a world-v2 object at azimuths a + k·90° and one elevation
  (``multiview_data``); a group's views share one caption without view words and one
  timestep, as multi-view SDS draws them;
- the objective is the text prior's, DDPM noise prediction (Ho et al. 2020) with Min-SNR-gamma
  weights (Hang et al. 2023), with the high-noise steps weighted up as clean-image errors
  (``training_state.high_noise_weights``): there the cameras decide the layout; 10% of groups get the empty caption (cameras kept), so
  classifier-free guidance drops the text only, as MVDream's does;
- the VAE, the text encoder and the tokenizer are the text prior's, frozen and shipped again.

Stages checkpoint into ``--work-dir`` (default: the output folder's name plus ``.work``);
running the command again after a stop goes on from there.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor

from dream3d.allocator import keep_freed_memory
from dream3d.prior.multiview import MultiViewInfo, multiview_unet_config, save_multiview_prior
from dream3d.prior.multiview_attention import install_multiview_attention
from dream3d.prior.multiview_camera import camera_features
from dream3d.prior.multiview_data import MultiViewDataConfig, MultiViewDataset, build_multiview_dataset
from dream3d.prior.shapes_data import CaptionConfig, draw_caption
from dream3d.prior.source import PriorLoadError
from dream3d.prior.train_shapes import encode_dataset
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


@dataclass
class TrainMultiViewConfig:
    """Everything that determines the trained prior (saved beside it)."""

    seed: int = 0
    threads: int = 2
    base: str = "extern/priors/dream3d-shapes-v2"
    """The text prior that is fine-tuned, and whose VAE and text encoder are shipped again."""
    data: MultiViewDataConfig = field(default_factory=MultiViewDataConfig)
    captions: CaptionConfig = field(default_factory=lambda: CaptionConfig(p_no_view=1.0))
    """Captions name the object only: the cameras say where each view is."""
    steps: int = 4000
    objects: int = 8
    """Objects per step (each with ``data.views`` views)."""
    lr: float = 5e-4
    camera_lr_scale: float = 10.0
    """The camera MLP is new and starts at zero: its learning rate is ``lr`` times this. At 1x its
    output was 0.7 in norm after 500 steps, against 9.2 for the timestep embedding it is added to."""
    warmup_steps: int = 100
    min_snr_gamma: float = 5.0
    high_noise_cap: float = 20.0
    """Cap of the high-noise weights (``training_state.high_noise_weights``). With the plain eps
    objective (cap 1) the camera MLP learned nothing in 1250 steps: samples were the same
    whatever the cameras, because the views' orientation is decided at high noise."""
    ema_decay: float = 0.999
    checkpoint_every: int = 250


def quick_config(base: str, seed: int = 0) -> TrainMultiViewConfig:
    """A seconds-long run, for tests."""
    return TrainMultiViewConfig(seed=seed, threads=1, base=base, data=MultiViewDataConfig(groups_per_pair=1, supersample=1),
                                steps=3, objects=2, warmup_steps=1)


def multiview_unet_from(text_unet, views: int):
    """A multi-view UNet with the text UNet's weights, a zero-output camera MLP, and
    self-attention across ``views`` views."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_config(multiview_unet_config(dict(text_unet.config)))
    missing, unexpected = unet.load_state_dict(text_unet.state_dict(), strict=False)
    if unexpected or any(not key.startswith("class_embedding.") for key in missing):
        raise RuntimeError(f"The text UNet does not fit the multi-view one: missing {missing}, unexpected {unexpected}")
    torch.nn.init.zeros_(unet.class_embedding.linear_2.weight)
    torch.nn.init.zeros_(unet.class_embedding.linear_2.bias)
    install_multiview_attention(unet, views)
    return unet


def camera_parameter_groups(unet, cfg: TrainMultiViewConfig) -> list[dict]:
    """Optimiser groups: the UNet at ``lr``, its camera MLP at ``lr * camera_lr_scale``."""
    camera = list(unet.class_embedding.parameters())
    ids = {id(p) for p in camera}
    return [{"params": [p for p in unet.parameters() if id(p) not in ids], "lr": cfg.lr},
            {"params": camera, "lr": cfg.lr * cfg.camera_lr_scale}]


def train_network(unet, text_encoder, tokenizer, scheduler, data: MultiViewDataset, latents: tuple[Tensor, Tensor],
                  scale: float, cfg: TrainMultiViewConfig, generator: torch.Generator, checkpoint: Path | None) -> list[float]:
    """Fine-tune the multi-view UNet (the text encoder stays frozen); returns the losses."""
    from tqdm.auto import tqdm

    means, stds = latents
    views = data.views
    cameras = camera_features(data.c2w)  # [N,16]
    params = list(unet.parameters())
    unet.train()
    optimizer, schedule, ema = denoiser_optimisation(params, cfg.lr, cfg.warmup_steps, cfg.steps, cfg.ema_decay,
                                                     camera_parameter_groups(unet, cfg))
    rng = random.Random(cfg.seed)
    context_cache: dict[str, Tensor] = {}

    @torch.no_grad()
    def context(text: str) -> Tensor:
        if text not in context_cache:
            ids = tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                            return_tensors="pt").input_ids
            context_cache[text] = text_encoder(ids)[0][0]
        return context_cache[text]

    parts = {"unet": unet, "optimizer": optimizer, "schedule": schedule, "ema": ema}
    losses, first = restore(checkpoint, parts, generator, rng)
    bar = tqdm(range(first, cfg.steps), desc="multi-view unet", initial=first, total=cfg.steps)
    for step in bar:
        groups = torch.randint(0, data.groups, (cfg.objects,), generator=generator)
        index = data.group_images(groups)  # [B·V]
        z0 = (means[index] + stds[index] * torch.randn(means[index].shape, generator=generator)) * scale
        captions = [draw_caption(data.colours[g], data.shapes[g], "", rng, cfg.captions) for g in groups.tolist()]
        hidden = torch.stack([context(c) for c in captions]).repeat_interleave(views, 0)  # [B·V,L,D]
        noise = torch.randn(z0.shape, generator=generator)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (cfg.objects,), generator=generator)
        t = t.repeat_interleave(views)
        eps = unet(scheduler.add_noise(z0, noise, t), t, encoder_hidden_states=hidden, class_labels=cameras[index]).sample
        loss = epsilon_loss(eps, noise, scheduler.alphas_cumprod, t, cfg.min_snr_gamma, cfg.high_noise_cap)
        update(loss, optimizer, params, schedule, ema)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{sum(losses[-100:]) / len(losses[-100:]):.4f}")
        if checkpoint is not None and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.steps:
            save(checkpoint, snapshot(parts, generator, rng, losses, step + 1))
    ema.copy_to(params)
    unet.eval()
    return losses


def train(out: Path, cfg: TrainMultiViewConfig, work: Path | None = None) -> dict:
    """Every stage, then the folder at ``out`` (written beside it, then renamed); returns the log."""
    from dream3d.prior.model import TextToImagePrior

    start = time.time()
    base = TextToImagePrior.from_pretrained(cfg.base)  # a wrong --base fails here, before anything is written
    work, generator = begin_training(out, work, cfg.threads, cfg.seed)
    log: dict = {"config": asdict(cfg)}
    vae, text_encoder, tokenizer, scheduler = base.vae, base.text_encoder, base.tokenizer, base.scheduler
    data = stage(work / "dataset.pt", log, "render", lambda: build_multiview_dataset(cfg.data))
    log["images"] = int(data.images.shape[0])
    latents = encode_dataset(vae, data.images)
    unet = multiview_unet_from(base.unet, data.views)
    tic = time.time()

    def fit() -> dict:
        losses = train_network(unet, text_encoder, tokenizer, scheduler, data, latents, float(vae.config.scaling_factor),
                               cfg, generator, work / "unet.ckpt")
        return {"unet": unet.state_dict(), "losses": losses}

    fitted = stage(work / "unet.pt", log, "unet", fit)
    unet.load_state_dict(fitted["unet"])
    log.update(train_seconds=round(time.time() - tic, 1), final_loss=tail(fitted["losses"]))

    def write(folder: Path) -> None:
        save_multiview_prior(folder, unet, vae, text_encoder, tokenizer, scheduler, MultiViewInfo(data.views, 0.0))
        (folder / "vocabulary.json").write_text(json.dumps({"words": base.vocabulary}, indent=1) + "\n")
        log["total_seconds"] = round(time.time() - start, 1)
        write_training_log(folder, log)

    publish(out, write)
    return log


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (a multi-view prior folder)")
    parser.add_argument("--base", default=None, help="the text prior to fine-tune")
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    keep_freed_memory()
    base = args.base or TrainMultiViewConfig.base
    cfg = quick_config(base, args.seed) if args.quick else TrainMultiViewConfig(seed=args.seed, base=base)
    cfg.data = replace(cfg.data, seed=args.seed)
    apply_run_arguments(cfg, args)
    try:
        log = train(args.out, cfg, args.work_dir)
    except PriorLoadError as error:
        print(f"error: --base {cfg.base}: {error}\nPass the text prior to fine-tune, e.g. --base {TrainMultiViewConfig.base}.",
              file=sys.stderr)
        raise SystemExit(2) from None
    print(json.dumps({k: v for k, v in log.items() if k != "config"}, indent=1))


if __name__ == "__main__":
    main()
