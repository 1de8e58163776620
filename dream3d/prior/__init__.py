"""The frozen latent diffusion prior: loading, text embeddings, view-dependent prompts."""
from dream3d.prior.config import PriorConfig
from dream3d.prior.model import OutOfVocabularyError, Prior, PriorLoadError

__all__ = ["Prior", "PriorLoadError", "PriorConfig", "OutOfVocabularyError"]
