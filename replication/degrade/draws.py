"""Random draws from an explicit ``torch.Generator`` (CPU): the only source of randomness here.

Small helpers so that every sampling site reads like the rule it implements ("uniform in
[low, high]", "with probability p") instead of repeating tensor arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def uniform(low: float, high: float, n: int, generator: torch.Generator) -> torch.Tensor:
    """(n,) float32 draws from U[low, high) (``low == high`` gives exactly ``low``)."""
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float32)


def uniform_float(low: float, high: float, generator: torch.Generator) -> float:
    """One float from U[low, high), drawn in float64 (a per-batch scalar)."""
    return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))


def bernoulli(p: float, n: int, generator: torch.Generator) -> torch.Tensor:
    """(n,) bool, each True with probability ``p``."""
    return torch.rand(n, generator=generator, dtype=torch.float64) < p


def coin(p: float, generator: torch.Generator) -> bool:
    """One event of probability ``p`` (a per-batch choice)."""
    return float(torch.rand((), generator=generator, dtype=torch.float64)) < p


def categorical(probs: Sequence[float], n: int, generator: torch.Generator) -> torch.Tensor:
    """(n,) int64 indices into ``probs`` (inverse-CDF sampling: one uniform draw per item)."""
    cdf = torch.cumsum(torch.tensor(probs, dtype=torch.float64), 0)
    u = torch.rand(n, generator=generator, dtype=torch.float64) * cdf[-1]
    return torch.searchsorted(cdf, u, right=True).clamp_(max=len(probs) - 1)


def choice(options: Sequence, generator: torch.Generator):
    """One element of ``options``, uniformly (a per-batch choice)."""
    return options[int(torch.randint(len(options), (), generator=generator))]


def choice_tensor(options: Sequence[int], n: int, generator: torch.Generator) -> torch.Tensor:
    """(n,) int64 values drawn uniformly from ``options``."""
    idx = torch.randint(len(options), (n,), generator=generator)
    return torch.tensor(list(options), dtype=torch.int64)[idx]


def field_generator(generator: torch.Generator, device: torch.device) -> torch.Generator:
    """Generator for large random fields (noise) on ``device``.

    On the CPU this is ``generator`` itself. On an accelerator a device generator is seeded from
    ``generator``: noise is then drawn where it is used (no host->device copies of image-sized
    tensors), and the same CPU seed still gives the same pairs on the same device.
    """
    if device.type == "cpu":
        return generator
    seed = int(torch.randint(0, 2**62, (), generator=generator))
    dev = torch.Generator(device=device)
    dev.manual_seed(seed)
    return dev
