"""Architecture registry: name -> class. Explicit table, no scanning, no import side effects.

The VGG19 feature extractor of the perceptual loss is not a registry entry (it is never saved as a
model); it lives in :mod:`replication.archs.vgg`.
"""

from __future__ import annotations

import inspect

from torch import nn

from replication.archs.discriminators import UNetDiscriminator, VGGStyleDiscriminator
from replication.archs.rrdbnet import RRDBNet
from replication.archs.srvgg import SRVGGNetCompact
from replication.errors import UserError

ARCHS: dict[str, type[nn.Module]] = {
    "rrdbnet": RRDBNet,
    "srvgg": SRVGGNetCompact,
    "unet_discriminator": UNetDiscriminator,
    "vgg_discriminator": VGGStyleDiscriminator,
}

# Generators are the architectures that map an LR image to an SR image (usable by `upscale`).
GENERATORS = ("rrdbnet", "srvgg")


def arch_class(name: str) -> type[nn.Module]:
    if name not in ARCHS:
        raise UserError(f"unknown architecture {name!r} (known: {', '.join(ARCHS)})")
    return ARCHS[name]


def hyperparameter_names(name: str) -> list[str]:
    """Keyword hyperparameters of an architecture (``seed`` excluded: it only sets the initial weights)."""
    params = inspect.signature(arch_class(name).__init__).parameters
    return [p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY and p != "seed"]


def build_arch(name: str, *, seed: int = 0, **hyper) -> nn.Module:
    """Build architecture ``name`` with keyword hyperparameters; initial weights fixed by ``seed``."""
    cls = arch_class(name)
    allowed = hyperparameter_names(name)
    unknown = sorted(set(hyper) - set(allowed))
    if unknown:
        raise UserError(f"{name}: unknown hyperparameter(s) {', '.join(unknown)} (allowed: {', '.join(allowed)})")
    return cls(seed=seed, **hyper)
