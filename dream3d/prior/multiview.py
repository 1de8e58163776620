"""A multi-view latent diffusion prior (MVDream, Shi et al. 2023, arXiv:2308.16512) on diffusers' UNet.

MVDream denoises ``V`` views of one object together. Its UNet is Stable Diffusion's with two
changes, both expressed through diffusers' public API here:

- every transformer block's self-attention spans the tokens of all ``V`` views
  (``dream3d.prior.multiview_attention``, installed with ``unet.set_attn_processor``);
- each view's camera is embedded by a 2-layer MLP and added to the timestep embedding
  (``dream3d.prior.multiview_camera``): the UNet is a ``UNet2DConditionModel`` with
  ``class_embed_type="projection"`` and ``projection_class_embeddings_input_dim=16``, and the
  cameras ``[B·V,16]`` are its ``class_labels``.

A multi-view prior folder is a Stable-Diffusion-style diffusers folder (unet with that class
embedding, vae, text_encoder, tokenizer, scheduler) plus ``multiview.json``: the number of
views and the camera yaw (``MultiViewInfo``). ``python -m dream3d.prior.mvdream_convert`` writes
one from MVDream's original checkpoint. Batches are object-major: the ``V`` views of an object
are adjacent, and every batch holds whole objects.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from dream3d.atomic import write_text
from dream3d.interfaces.condition import Conditioning
from dream3d.prior.model import TextToImagePrior
from dream3d.prior.multiview_attention import install_multiview_attention
from dream3d.prior.multiview_camera import CAMERA_DIM
from dream3d.prior.source import PriorLoadError, local_folder, resolve_source

MULTIVIEW_FILE = "multiview.json"
"""The file that marks a diffusers folder as a multi-view prior."""


@dataclass
class MultiViewInfo:
    """What a multi-view prior folder says about its views (``multiview.json``)."""

    num_views: int = 4
    """Views denoised together (MVDream: 4, at azimuths a + k·90°, one elevation)."""
    camera_yaw_degrees: float = 0.0
    """Rotation about +z of dream3d's world before the cameras are embedded (MVDream: -90)."""

    @classmethod
    def read(cls, path: Path) -> "MultiViewInfo":
        data = json.loads(Path(path).read_text())
        known = {k: data[k] for k in ("num_views", "camera_yaw_degrees") if k in data}
        return cls(num_views=int(known.get("num_views", 4)), camera_yaw_degrees=float(known.get("camera_yaw_degrees", 0.0)))

    def write(self, folder: Path) -> None:
        write_text(Path(folder) / MULTIVIEW_FILE, json.dumps(asdict(self), indent=2) + "\n")


def local_multiview_info(name_or_path: str) -> MultiViewInfo | None:
    """The ``multiview.json`` of a local prior folder, if it has one (no weights, no network)."""
    folder = local_folder(name_or_path)
    if folder is None or not (folder / MULTIVIEW_FILE).is_file():
        return None
    return MultiViewInfo.read(folder / MULTIVIEW_FILE)


def load_multiview_info(name_or_path: str) -> MultiViewInfo:
    """``multiview.json`` of a local folder or hub repository; ``PriorLoadError`` if there is none."""
    try:
        source, local_only = resolve_source(name_or_path)
    except PriorLoadError as error:
        raise PriorLoadError(f"{error}\nA multi-view prior folder is made from MVDream's checkpoint with "
                             f"`python -m dream3d.prior.mvdream_convert --out {name_or_path}`.") from None
    path: Path | None = Path(source) / MULTIVIEW_FILE
    if not path.is_file():
        try:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(source, MULTIVIEW_FILE, local_files_only=local_only))
        except Exception:  # noqa: BLE001 - not on the hub, not cached, or not a repository id
            path = None
    if path is None or not path.is_file():
        raise PriorLoadError(
            f"'{name_or_path}' is not a multi-view prior: it has no {MULTIVIEW_FILE}. Convert MVDream's checkpoint "
            "with `python -m dream3d.prior.mvdream_convert --out FOLDER`, or use system.prior.type=text."
        )
    return MultiViewInfo.read(path)


def multiview_unet_config(base: dict) -> dict:
    """A ``UNet2DConditionModel`` config with MVDream's camera MLP as the class embedding."""
    return {**base, "class_embed_type": "projection", "projection_class_embeddings_input_dim": CAMERA_DIM,
            "class_embeddings_concat": False}


def check_multiview_unet(unet) -> None:
    """Refuse a UNet without the camera MLP (a text-to-image UNet loaded as a multi-view one)."""
    config = unet.config
    if config.class_embed_type != "projection" or config.projection_class_embeddings_input_dim != CAMERA_DIM:
        raise PriorLoadError(
            "A multi-view prior's UNet embeds cameras: class_embed_type='projection' with "
            f"projection_class_embeddings_input_dim={CAMERA_DIM}; this one has class_embed_type="
            f"{config.class_embed_type!r}. Is this a text-to-image prior? Then use system.prior.type=text."
        )


class MultiViewPrior(TextToImagePrior):
    """A frozen multi-view prior: a ``TextToImagePrior`` whose UNet attends across views and
    takes each view's camera ``[B·V,16]`` as ``class_labels``."""

    def __init__(self, unet, vae, text_encoder, tokenizer, scheduler, vocabulary: list[str] | None = None,
                 name: str = "prior", info: MultiViewInfo | None = None):
        check_multiview_unet(unet)
        super().__init__(unet, vae, text_encoder, tokenizer, scheduler, vocabulary=vocabulary, name=name)
        self.set_info(info or MultiViewInfo())

    def set_info(self, info: MultiViewInfo) -> None:
        """Use ``info``'s view count in the cross-view attention, and its camera yaw."""
        self.info = info
        install_multiview_attention(self.unet, info.num_views)
        self.traced_unet.reset()  # a trace replays the attention of the view count it saw

    @property
    def num_views(self) -> int:
        return self.info.num_views

    @property
    def camera_yaw_degrees(self) -> float:
        return self.info.camera_yaw_degrees

    @classmethod
    def from_pretrained(cls, name_or_path: str, device: str | torch.device = "cpu",
                        dtype: torch.dtype | None = None) -> "MultiViewPrior":
        """Load a multi-view prior folder or hub id (``multiview.json`` plus diffusers components)."""
        info = load_multiview_info(name_or_path)
        prior = super().from_pretrained(name_or_path, device=device, dtype=dtype)
        prior.set_info(info)
        return prior

    def predict_noise(self, noisy_latents: Tensor, timesteps: Tensor, conditioning: Conditioning) -> Tensor:
        """Noise ``[B·V,C,h,w]`` of whole objects; ``conditioning.class_labels`` holds the cameras ``[B·V,16]``."""
        if conditioning.class_labels is None:
            raise ValueError("A multi-view prior needs each view's camera as class_labels (MultiViewCondition).")
        if noisy_latents.shape[0] % self.num_views:
            raise ValueError(f"A multi-view prior denoises whole objects of {self.num_views} views; "
                             f"got a batch of {noisy_latents.shape[0]}.")
        return super().predict_noise(noisy_latents, timesteps, conditioning)


def save_multiview_prior(folder: Path, unet, vae, text_encoder, tokenizer, scheduler, info: MultiViewInfo) -> Path:
    """Write a multi-view prior folder (diffusers components and ``multiview.json``)."""
    from diffusers import StableDiffusionPipeline

    check_multiview_unet(unet)
    folder = Path(folder)
    pipeline = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipeline.save_pretrained(folder)
    info.write(folder)
    return folder
