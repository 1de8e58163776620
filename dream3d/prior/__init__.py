"""Frozen diffusion priors: loading, conditions (text with view-dependent prompts), vocabularies."""
from dream3d.prior.config import PriorConfig
from dream3d.prior.model import TextToImagePrior
from dream3d.prior.source import PriorLoadError
from dream3d.prior.vocabulary import OutOfVocabularyError

__all__ = ["TextToImagePrior", "PriorLoadError", "PriorConfig", "OutOfVocabularyError"]
