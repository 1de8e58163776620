"""On-disk cache of text embeddings, keyed by model and prompt."""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import Tensor

from dream3d.atomic import atomic_path
from dream3d.cache_dir import cache_root


def default_cache_dir() -> Path:
    """``text_embeddings`` in the cache root (``dream3d.cache_dir``)."""
    return cache_root() / "text_embeddings"


class TextEmbeddingCache:
    """Stores one ``[L,D]`` embedding per (model, prompt) in a ``.pt`` file."""

    def __init__(self, model_key: str, directory: Path | None = None):
        self.model_key = model_key
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    def _path(self, prompt: str) -> Path:
        digest = hashlib.sha1(f"{self.model_key}\n{prompt}".encode()).hexdigest()
        return self.directory / f"{digest}.pt"

    def get(self, prompt: str) -> Tensor | None:
        path = self._path(prompt)
        if not path.is_file():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - a corrupt entry is recomputed
            return None

    def put(self, prompt: str, embedding: Tensor) -> None:
        with atomic_path(self._path(prompt)) as tmp:
            torch.save(embedding.detach().cpu(), tmp)


def model_key(name_or_path: str) -> str:
    """A key that changes when a local prior's text encoder is retrained."""
    path = Path(name_or_path)
    weights = sorted((path / "text_encoder").glob("*.safetensors")) if path.is_dir() else []
    stamp = ",".join(f"{w.stat().st_size}:{w.stat().st_mtime_ns}" for w in weights)
    return f"{name_or_path}|{stamp}"
