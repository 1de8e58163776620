"""A frozen UNet's inference forward, traced once per input signature (TorchScript).

A bundled prior's UNet is small: at 16x16 latents most of its forward on a CPU is Python
and dispatch overhead between a few hundred small kernels. ``torch.jit.trace`` records
those kernels once and replays them without the Python, with the module's own parameters
(nothing is copied), so the output is the eager one bit for bit (``tests/test_traced_unet.py``)
at about 0.8x the time (``benchmarks/traced-unet.md``).

A trace freezes Python-level decisions, so it is used only where they cannot change:
no gradient is being recorded, the UNet carries no adapter (VSD adds a LoRA in place) and
no trainable parameter, and the tensors live on a CPU (CUDA has its own graph tools). Each
input signature (shapes and dtypes, with or without class labels: a multi-view prior's
cameras) gets its own trace.
"""
from __future__ import annotations

import logging
import warnings

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)


class _UNetCall(nn.Module):
    """``unet(sample, t, encoder_hidden_states=context)`` as a plain tensor function."""

    def __init__(self, unet: nn.Module):
        super().__init__()
        self.unet = unet

    def forward(self, sample: Tensor, timesteps: Tensor, context: Tensor) -> Tensor:
        return self.unet(sample, timesteps, encoder_hidden_states=context).sample


class _LabelledUNetCall(_UNetCall):
    """``unet(sample, t, encoder_hidden_states=context, class_labels=labels)`` (a multi-view
    prior's cameras) as a plain tensor function."""

    def forward(self, sample: Tensor, timesteps: Tensor, context: Tensor, labels: Tensor) -> Tensor:
        return self.unet(sample, timesteps, encoder_hidden_states=context, class_labels=labels).sample


class TracedUNet:
    """Calls a diffusers UNet, through a cached trace where that is safe, else eagerly."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._unet: nn.Module | None = None
        self._adapted = False  # whether ``_unet`` carried an adapter at the last call
        self._parameters: list[nn.Parameter] = []
        self._traces: dict[tuple, torch.jit.ScriptModule] = {}

    def reset(self) -> None:
        """Forget every trace (the UNet moved, or changed)."""
        self._traces.clear()
        self._parameters = list(self._unet.parameters()) if self._unet is not None else []

    def usable(self, unet: nn.Module, sample: Tensor) -> bool:
        """Whether a trace gives the eager result for this call.

        The parameters are listed once per UNet (walking the module tree costs about 0.4 ms a
        call); a trace holds the same parameter objects, so replacing one needs ``reset``
        either way."""
        return (self.enabled and not torch.is_grad_enabled()
                and sample.device.type == "cpu"
                and not self._adapted
                and not any(p.requires_grad for p in self._parameters))

    def __call__(self, unet: nn.Module, sample: Tensor, timesteps: Tensor, context: Tensor,
                 class_labels: Tensor | None = None) -> Tensor:
        """``unet``'s prediction for ``sample [B,C,h,w]`` at ``timesteps [B]`` given ``context [B,L,D]``."""
        adapted = bool(getattr(unet, "peft_config", None))
        if unet is not self._unet or adapted != self._adapted:
            self._unet, self._adapted = unet, adapted
            self.reset()  # another UNet, or an adapter added or removed: trace afresh later
        if not self.usable(unet, sample):  # this call only: the traces stay
            return unet(sample, timesteps, encoder_hidden_states=context, class_labels=class_labels).sample
        inputs = (sample, timesteps, context) if class_labels is None else (sample, timesteps, context, class_labels)
        key = tuple((tuple(x.shape), x.dtype) for x in inputs)
        traced = self._traces.get(key)
        if traced is None:
            traced = self._trace(unet, *inputs)
            if traced is None:
                return self(unet, sample, timesteps, context, class_labels)
            self._traces[key] = traced
        return traced(*inputs)

    def _trace(self, unet: nn.Module, *inputs: Tensor) -> torch.jit.ScriptModule | None:
        """A trace of ``unet`` on ``inputs``; None (and tracing off from then on) where this torch
        cannot trace it: ``torch.jit`` is deprecated, and a later torch may drop it."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                call = _UNetCall(unet) if len(inputs) == 3 else _LabelledUNetCall(unet)
                return torch.jit.trace(call, inputs, check_trace=False)
        except Exception as error:  # noqa: BLE001 - any failure means: run eagerly
            log.warning("The UNet runs eagerly: tracing it failed (%s: %s).", type(error).__name__, error)
            self.enabled = False
            return None
