"""Deterministic weight initialisation from an explicit seed.

``torch.nn`` layers draw their default initial weights from the global RNG. To keep randomness
explicit (and leave the caller's global RNG untouched) every architecture is built inside
:func:`isolated_global_rng` and then re-initialised from a ``torch.Generator`` seeded by the
caller, so the same seed gives bit-identical weights on CPU whatever ran before.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def isolated_global_rng() -> Iterator[None]:
    """Run a block that may consume the global CPU RNG, then restore the RNG state."""
    with torch.random.fork_rng(devices=[]):
        yield


def generator_from_seed(seed: int) -> torch.Generator:
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed))
    return gen


@torch.no_grad()
def default_init_(module: nn.Module, gen: torch.Generator) -> None:
    """PyTorch's default init for Conv2d / Linear, drawn from ``gen``.

    Weight: kaiming_uniform(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)); bias: the same bound.
    """
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        weight = _weight_of(module)
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=gen)
        if module.bias is not None:
            fan_in = weight[0].numel()
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            nn.init.uniform_(module.bias, -bound, bound, generator=gen)


@torch.no_grad()
def scaled_kaiming_init_(module: nn.Module, gen: torch.Generator, scale: float) -> None:
    """kaiming_normal (fan_in, leaky_relu a=0) times ``scale``, bias 0 (ESRGAN's residual-block init)."""
    weight = _weight_of(module)
    nn.init.kaiming_normal_(weight, generator=gen)
    weight.mul_(scale)
    bias = getattr(module, "bias", None)
    if bias is not None:
        bias.zero_()


@torch.no_grad()
def reset_spectral_norm_vectors_(module: nn.Module, gen: torch.Generator) -> None:
    """Redraw the power-iteration vectors ``weight_u`` / ``weight_v`` of a spectral-normed layer."""
    for name in ("weight_u", "weight_v"):
        buf = getattr(module, name, None)
        if buf is not None:
            buf.copy_(nn.functional.normalize(torch.randn(buf.shape, generator=gen), dim=0, eps=1e-12))


def _weight_of(module: nn.Module) -> torch.Tensor:
    # A spectral-normed layer keeps its trainable weight as ``weight_orig``.
    weight = module.weight_orig if hasattr(module, "weight_orig") else module.weight
    assert isinstance(weight, torch.Tensor)
    return weight
