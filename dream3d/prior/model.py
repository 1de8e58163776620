"""The frozen latent diffusion prior, built from diffusers components.

``Prior`` is built from its components (unet, vae, text_encoder, tokenizer, scheduler), as
diffusers pipelines are. ``Prior.from_pretrained`` is the one place that loads weights: a
local diffusers folder (the bundled ``extern/priors/dream3d-shapes``) or a hub id such as
``stabilityai/stable-diffusion-2-1-base``. On CUDA the prior runs in fp16, on CPU in fp32
(fp16 LayerNorm is not implemented on CPU).
"""
from __future__ import annotations

import json
import logging
import os
import re
import socket
from pathlib import Path

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

BUNDLED_PRIOR = "extern/priors/dream3d-shapes"
"""The bundled prior, relative to the repository root (or the working directory)."""

REPO_ROOT = Path(__file__).resolve().parents[2]
HUB_HOST = ("huggingface.co", 443)


class PriorLoadError(RuntimeError):
    """A prior could not be loaded; the message says what was tried and what to do."""


class OutOfVocabularyError(ValueError):
    """A prompt uses words that a closed-vocabulary prior (the bundled one) never saw."""


class Prior(nn.Module):
    """A frozen latent diffusion model used as a score function.

    Latents follow Stable Diffusion (Rombach et al. 2022): ``z = vae.encode(2x-1) * s``
    with ``s = vae.config.scaling_factor``.
    """

    def __init__(self, unet, vae, text_encoder, tokenizer, scheduler, vocabulary: list[str] | None = None, name: str = "prior"):
        super().__init__()
        self.unet = unet
        self.vae = vae
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer
        self.scheduler = scheduler
        self.vocabulary = None if vocabulary is None else sorted(set(vocabulary))
        self.name = name
        for module in (unet, vae, text_encoder):
            if module is not None:
                module.requires_grad_(False)
                module.eval()
        alphas_cumprod = torch.as_tensor(scheduler.alphas_cumprod, dtype=torch.float32)
        self.register_buffer("alphas_cumprod", alphas_cumprod, persistent=False)  # [T]

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, name_or_path: str, device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> "Prior":
        """Load a diffusers Stable-Diffusion-style folder or hub id (public diffusers API)."""
        from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
        from transformers import AutoTokenizer, CLIPTextModel

        device = torch.device(device)
        if dtype is None:
            dtype = torch.float16 if device.type == "cuda" else torch.float32
        source, local_only = _resolve_source(name_or_path)
        kwargs = dict(local_files_only=local_only)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, subfolder="tokenizer", **kwargs)
            text_encoder = CLIPTextModel.from_pretrained(source, subfolder="text_encoder", torch_dtype=dtype, **kwargs)
            vae = AutoencoderKL.from_pretrained(source, subfolder="vae", torch_dtype=dtype, **kwargs)
            unet = UNet2DConditionModel.from_pretrained(source, subfolder="unet", torch_dtype=dtype, **kwargs)
            scheduler = DDPMScheduler.from_pretrained(source, subfolder="scheduler", **kwargs)
        except (OSError, ValueError) as error:
            raise PriorLoadError(
                f"Could not load the diffusion prior '{name_or_path}' from {source}: {error}\n"
                f"The bundled CPU prior is '{BUNDLED_PRIOR}' (system.prior.pretrained={BUNDLED_PRIOR})."
            ) from None
        vocabulary = _read_vocabulary(source)
        prior = cls(unet, vae, text_encoder, tokenizer, scheduler, vocabulary=vocabulary, name=str(name_or_path))
        log.info("Loaded prior %s on %s (%s)", name_or_path, device, str(dtype).replace("torch.", ""))
        return prior.to(device)

    # ------------------------------------------------------------------ properties
    @property
    def device(self) -> torch.device:
        return self.alphas_cumprod.device

    @property
    def dtype(self) -> torch.dtype:
        # diffusers' ``unet.dtype`` walks every module; the first parameter says the same
        return next(self.unet.parameters()).dtype

    @property
    def num_train_timesteps(self) -> int:
        return int(self.alphas_cumprod.shape[0])

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return int(self.unet.config.in_channels)

    @property
    def latent_size(self) -> int:
        return int(self.unet.config.sample_size)

    @property
    def image_size(self) -> int:
        """The resolution the prior was trained at (renders are resized to it)."""
        return self.latent_size * self.vae_scale_factor

    # ------------------------------------------------------------------ text
    def check_prompt(self, prompt: str) -> None:
        """Refuse words a closed-vocabulary prior never saw (spec: out-of-vocabulary prompts)."""
        if self.vocabulary is None:
            return
        words = re.findall(r"[a-z0-9']+", prompt.lower())
        unknown = [w for w in words if w not in self.vocabulary]
        if unknown:
            raise OutOfVocabularyError(
                f"The prompt {prompt!r} uses words the prior '{self.name}' does not know: "
                f"{', '.join(sorted(set(unknown)))}.\n"
                f"It knows only: {', '.join(self.vocabulary)}.\n"
                "For open-vocabulary prompts use a real prior on a GPU, e.g. "
                "--config configs/dreamfusion-sd.yaml (system.prior.pretrained="
                "stabilityai/stable-diffusion-2-1-base)."
            )

    @torch.no_grad()
    def encode_text(self, prompts: list[str]) -> Tensor:
        """CLIP text embeddings ``[B,L,D]`` (last hidden state, as Stable Diffusion uses)."""
        if self.text_encoder is None:
            raise RuntimeError("The text encoder was freed; embeddings come from the prompt cache.")
        tokens = self.tokenizer(
            prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
            truncation=True, return_tensors="pt",
        )
        hidden = self.text_encoder(tokens.input_ids.to(self.device))[0]
        return hidden.to(self.dtype)

    def free_text_encoder(self) -> None:
        """Drop the text encoder once every embedding needed is computed."""
        self.text_encoder = None

    # ------------------------------------------------------------------ images
    def encode_images(self, images: Tensor) -> Tensor:
        """Latents ``[B,C,h,w]`` of images ``[B,3,H,W]`` in [0,1] (posterior mean, scaled)."""
        x = images.to(self.dtype) * 2.0 - 1.0
        posterior = self.vae.encode(x).latent_dist
        return posterior.mean * self.vae.config.scaling_factor

    def decode_latents(self, latents: Tensor) -> Tensor:
        """Images ``[B,3,H,W]`` in [0,1] from scaled latents."""
        x = self.vae.decode(latents.to(self.dtype) / self.vae.config.scaling_factor).sample
        return (x.float() * 0.5 + 0.5).clamp(0.0, 1.0)

    def predict_noise(self, noisy_latents: Tensor, timesteps: Tensor, text_embeddings: Tensor, class_labels: Tensor | None = None) -> Tensor:
        """The UNet's noise prediction ``eps_hat(z_t, t, y)`` in fp32."""
        eps = self.unet(
            noisy_latents.to(self.dtype), timesteps, encoder_hidden_states=text_embeddings.to(self.dtype),
            class_labels=None if class_labels is None else class_labels.to(self.dtype),
        ).sample
        return eps.float()

    def add_noise(self, latents: Tensor, noise: Tensor, timesteps: Tensor) -> Tensor:
        """Forward diffusion ``z_t = sqrt(abar_t) z + sqrt(1 - abar_t) eps`` (Ho et al. 2020, eq. 4)."""
        abar = self.alphas_cumprod[timesteps].view(-1, 1, 1, 1).to(latents.dtype)
        return abar.sqrt() * latents + (1.0 - abar).sqrt() * noise


def _resolve_source(name_or_path: str) -> tuple[str, bool]:
    """Find a local folder for ``name_or_path`` or decide that the hub must be asked.

    Returns ``(source, local_files_only)``. Raises ``PriorLoadError`` within seconds when
    the name is neither a local folder, nor in the local hub cache, nor reachable.
    """
    candidates = [Path(name_or_path).expanduser()]
    if not Path(name_or_path).is_absolute():
        candidates.append(REPO_ROOT / name_or_path)
    for candidate in candidates:
        if (candidate / "model_index.json").is_file() or (candidate / "unet").is_dir():
            return str(candidate), True
    tried = [str(c) for c in candidates]
    looks_like_hub_id = re.fullmatch(r"[\w.-]+/[\w.-]+", name_or_path) is not None
    if not looks_like_hub_id:
        raise PriorLoadError(_not_found_message(name_or_path, tried))
    if _in_hub_cache(name_or_path):
        return name_or_path, True
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False") or not _hub_reachable():
        tried.append(f"the Hugging Face cache and hub ({HUB_HOST[0]} is unreachable or HF_HUB_OFFLINE is set)")
        raise PriorLoadError(_not_found_message(name_or_path, tried))
    return name_or_path, False


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "model_index.json")
        return isinstance(found, str)
    except Exception:  # noqa: BLE001 - a broken cache just means "not cached"
        return False


def _hub_reachable(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def _not_found_message(name: str, tried: list[str]) -> str:
    return (
        f"Diffusion prior '{name}' not found. Tried: {'; '.join(tried)}.\n"
        f"On a CPU, use the bundled prior: system.prior.pretrained={BUNDLED_PRIOR} "
        "(configs/dreamfusion.yaml does). If it is missing, train it with "
        f"`python -m dream3d.prior.train_shapes --out {BUNDLED_PRIOR}`. "
        "For Stable Diffusion, connect to the hub once or pass a local diffusers folder."
    )


def _read_vocabulary(source: str) -> list[str] | None:
    path = Path(source) / "vocabulary.json"
    if not path.is_file():
        return None
    return list(json.loads(path.read_text())["words"])
