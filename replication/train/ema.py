"""Exponential moving average of generator weights (the model that is evaluated and published).

As in the reference (BasicSR ``model_ema``): after every optimiser step,
``ema = decay * ema + (1 - decay) * param`` over the *parameters* only; buffers are copied, not
averaged (RRDBNet has none, but a discriminator-like net with BatchNorm would).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DistributedDataParallel and/or ``torch.compile`` wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif isinstance(inner := getattr(model, "_orig_mod", None), nn.Module):  # torch.compile wrapper
            model = inner
        else:
            return model


class EMA:
    """Holds a frozen copy of ``model`` whose weights track ``model``'s with ``decay``."""

    def __init__(self, model: nn.Module, decay: float, init_state: dict[str, torch.Tensor] | None = None):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(unwrap(model)).eval()
        self.model.requires_grad_(False)
        if init_state is not None:
            # The reference starts the EMA from the pretrained ``params_ema`` (not from a copy of G).
            self.model.load_state_dict(init_state)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        src = dict(unwrap(model).named_parameters())
        names = [name for name, _ in self.model.named_parameters()]
        ema_params: list[torch.Tensor] = [p for _, p in self.model.named_parameters()]
        params = [src[name].detach() for name in names]
        # One multi-tensor kernel per op instead of ~350 small ones (RRDBNet 23 blocks).
        torch._foreach_mul_(ema_params, self.decay)
        torch._foreach_add_(ema_params, params, alpha=1.0 - self.decay)
        src_buffers = dict(unwrap(model).named_buffers())
        for name, ema_b in self.model.named_buffers():
            ema_b.copy_(src_buffers[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)
