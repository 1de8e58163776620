"""The frozen text-to-image latent diffusion prior, built from diffusers components.

``TextToImagePrior`` implements ``dream3d.interfaces.Prior``. It is built from its components (unet, vae, text_encoder, tokenizer, scheduler), as
diffusers pipelines are. ``TextToImagePrior.from_pretrained`` is the one place that loads weights: a
local diffusers folder (the bundled ``extern/priors/dream3d-shapes-v2``) or a hub id such as
``stabilityai/stable-diffusion-2-1-base``. On CUDA the prior runs in fp16, on CPU in fp32
(fp16 LayerNorm is not implemented on CPU).
"""
from __future__ import annotations

import logging

import torch
from torch import Tensor

from dream3d.interfaces.condition import Conditioning
from dream3d.prior.latent import LatentDiffusionPrior, LoadPlan
from dream3d.prior.source import BUNDLED_PRIOR, PriorLoadError
from dream3d.prior.vocabulary import check_words, read_vocabulary

log = logging.getLogger(__name__)


class TextToImagePrior(LatentDiffusionPrior):
    """A frozen text-conditioned latent diffusion model (Stable Diffusion layout) used as a score function.

    Latents follow Stable Diffusion (Rombach et al. 2022): ``z = vae.encode(2x-1) * s``
    with ``s = vae.config.scaling_factor``.
    """

    def __init__(self, unet, vae, text_encoder, tokenizer, scheduler, vocabulary: list[str] | None = None, name: str = "prior"):
        super().__init__(unet, vae, scheduler, name, frozen=(text_encoder,))
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer
        self.vocabulary = None if vocabulary is None else sorted(set(vocabulary))

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, name_or_path: str, device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> "TextToImagePrior":
        """Load a diffusers Stable-Diffusion-style folder or hub id (public diffusers API)."""
        from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
        from transformers import AutoTokenizer, CLIPTextModel

        plan = LoadPlan.of(name_or_path, device, dtype)
        device, dtype, source, kwargs = plan.device, plan.dtype, plan.source, plan.kwargs
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
        vocabulary = read_vocabulary(source)
        prior = cls(unet, vae, text_encoder, tokenizer, scheduler, vocabulary=vocabulary, name=str(name_or_path))
        log.info("Loaded prior %s on %s (%s)", name_or_path, device, str(dtype).replace("torch.", ""))
        return prior.to(device)

    # ------------------------------------------------------------------ text
    def check_prompt(self, prompt: str) -> None:
        """Refuse words a closed-vocabulary prior never saw (``dream3d.prior.vocabulary``)."""
        check_words(prompt, self.vocabulary, self.name)

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

    def predict_noise(self, noisy_latents: Tensor, timesteps: Tensor, conditioning: Conditioning) -> Tensor:
        """The UNet's noise prediction ``eps_hat(z_t, t, y)`` in fp32.

        ``conditioning.context`` is the text ``[B,L,D]`` (cross-attention); ``class_labels``,
        when set, is added to the timestep embedding (VSD's camera); ``concat`` is joined to
        the latents along channels.
        """
        sample = noisy_latents if conditioning.concat is None else torch.cat([noisy_latents, conditioning.concat], dim=1)
        labels = conditioning.class_labels
        eps = self.unet_forward(sample.to(self.dtype), timesteps, conditioning.context.to(self.dtype),
                                None if labels is None else labels.to(self.dtype))
        return eps.float()
