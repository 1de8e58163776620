"""``Condition``: what the prior is conditioned on, for a batch of cameras.

A condition turns the cameras of one training step into the tensors a prior's network
takes. Today's text condition gives each camera the embedding of the prompt with its
view suffix (DreamFusion's view-dependent prompting); a view-conditioned prior (Zero123)
would give a reference image's latents and the relative pose of each camera, and a
multi-view prior (MVDream) the camera set of the views it denoises together. Guidance
code sees only ``Conditioning`` pairs (conditional, unconditional), so it does not change
when a new kind of condition arrives.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from dream3d.cameras import Cameras


@dataclass
class Conditioning:
    """Network inputs of one condition for a batch: every tensor has the batch first.

    ``context`` is what cross-attention reads (text tokens ``[B,L,D]``, or an image
    embedding); ``class_labels`` is added to the timestep embedding (VSD's camera, a
    multi-view camera embedding); ``concat`` is concatenated to the noisy latents along
    channels (Zero123's reference latents ``[B,C,h,w]``).
    """

    context: Tensor
    class_labels: Tensor | None = None
    concat: Tensor | None = None
    extras: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.context.shape[0])

    @staticmethod
    def cat(parts: list["Conditioning"]) -> "Conditioning":
        """Stack conditionings along the batch (e.g. conditional and unconditional for CFG)."""
        def join(values: list[Tensor | None]) -> Tensor | None:
            if all(v is None for v in values):
                return None
            if any(v is None for v in values):
                raise ValueError("Conditionings to concatenate must carry the same inputs.")
            return torch.cat(values)  # type: ignore[arg-type]

        extras = {k: torch.cat([p.extras[k] for p in parts]) for k in parts[0].extras}
        return Conditioning(
            context=join([p.context for p in parts]),  # type: ignore[arg-type]
            class_labels=join([p.class_labels for p in parts]),
            concat=join([p.concat for p in parts]),
            extras=extras,
        )

    def with_class_labels(self, class_labels: Tensor | None) -> "Conditioning":
        """The same conditioning with ``class_labels`` replaced."""
        return replace(self, class_labels=class_labels)

    def tensors(self) -> dict[str, Tensor]:
        """Every tensor it holds, by name (for tests and device moves)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if torch.is_tensor(getattr(self, f.name))}
        out.update({f"extras.{k}": v for k, v in self.extras.items()})
        return out


@runtime_checkable
class Condition(Protocol):
    """Conditional and unconditional network inputs for a batch of cameras."""

    def for_cameras(self, cameras: Cameras) -> tuple[Conditioning, Conditioning]:
        """``(conditional, unconditional)`` for ``cameras`` (batch ``B`` each)."""
        ...
