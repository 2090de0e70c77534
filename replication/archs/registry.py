"""The architecture table: one row per architecture, everything the project knows about it.

A row names the network class and how checkpoints map onto it: the official key map (older or
foreign key names -> ours), the hyperparameters a state dict implies, the ncnn importer, whether
it is a generator (LR -> SR, usable by ``upscale`` / ``evaluate``). Adding an architecture is one
module (the ``nn.Module`` plus its checkpoint helpers) and one row here. Explicit table, no
scanning, no import side effects.

The VGG19 feature extractor of the perceptual loss is not a row (it is never saved as a model);
it lives in :mod:`replication.archs.vgg`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from replication.archs import cdc, dan, keymap, ncnn
from replication.archs.discriminators import UNetDiscriminator, VGGStyleDiscriminator
from replication.archs.rrdbnet import RRDBNet
from replication.archs.srvgg import SRVGGNetCompact, infer_srvgg_hyperparameters
from replication.errors import UserError
from replication.names import GENERATOR_ARCHS

State = dict[str, torch.Tensor]
# (state dict, source for messages) -> (state dict with our key names, name of the naming detected)
KeyMap = Callable[[Mapping[str, torch.Tensor], str], tuple[State, str]]


def same_names(naming: str) -> KeyMap:
    """Key map of an architecture whose official checkpoints already use our names."""

    def identity(state: Mapping[str, torch.Tensor], source: str = "<state dict>") -> tuple[State, str]:
        return dict(state), naming

    return identity


@dataclass(frozen=True)
class ArchSpec:
    name: str
    cls: type[nn.Module]
    generator: bool  # maps an LR image to an SR image
    key_map: KeyMap  # official checkpoint names -> ours (strict load follows)
    infer: Callable[[State], dict] | None = None  # hyperparameters implied by a state dict
    ncnn: Callable | None = None  # (NcnnModel, given) -> (state, hyperparameters)
    title: str = ""
    # (state with our names, offline mirror or None) -> facts for the sidecar, e.g. a check of fixed
    # buffers against a reference copy in the mirror
    verify: Callable[[State, Path | None], dict] | None = None
    # key names (as found in the file, before the key map) -> whether they are this architecture's
    detect: Callable[[set[str]], bool] = lambda keys: False


TABLE: dict[str, ArchSpec] = {
    s.name: s
    for s in (
        ArchSpec(
            "rrdbnet",
            RRDBNet,
            True,
            keymap.to_basicsr_names,
            keymap.infer_rrdbnet_hyperparameters,
            ncnn.rrdbnet_from_ncnn,
            "RRDBNet (ESRGAN / Real-ESRGAN / RealSR / BSRGAN)",
            detect=lambda keys: "conv_first.weight" in keys or "model.0.weight" in keys,
        ),
        ArchSpec(
            "srvgg",
            SRVGGNetCompact,
            True,
            same_names("basicsr"),
            infer_srvgg_hyperparameters,
            ncnn.srvgg_from_ncnn,
            "SRVGGNetCompact (realesr-animevideov3 / general-x4v3)",
            detect=lambda keys: "body.0.weight" in keys and all(k.startswith("body.") for k in keys),
        ),
        ArchSpec(
            "dan",
            dan.DAN,
            True,
            dan.to_official_names,
            dan.infer_hyperparameters,
            None,
            "DANv1",
            verify=dan.compare_pca_with_mirror,
            detect=lambda keys: "Restorer.head.weight" in keys,
        ),
        ArchSpec(
            "cdc",
            cdc.CDC,
            True,
            same_names("official"),
            cdc.infer_hyperparameters,
            None,
            "CDC (HGSR-MHR)",
            detect=lambda keys: "conv_in.0.weight" in keys and "HG_0.down1.res_block.res.0.weight" in keys,
        ),
        ArchSpec(
            "unet_discriminator",
            UNetDiscriminator,
            False,
            same_names("basicsr"),
            title="U-Net discriminator",
            detect=lambda keys: "conv0.weight" in keys and "conv9.weight" in keys,
        ),
        ArchSpec(
            "vgg_discriminator",
            VGGStyleDiscriminator,
            False,
            same_names("basicsr"),
            title="VGG discriminator",
            detect=lambda keys: "conv0_0.weight" in keys and "linear2.weight" in keys,
        ),
    )
}

ARCHS: dict[str, type[nn.Module]] = {name: spec.cls for name, spec in TABLE.items()}
# Generators are the architectures that map an LR image to an SR image (usable by `upscale`).
GENERATORS = tuple(name for name, spec in TABLE.items() if spec.generator)
if GENERATORS != GENERATOR_ARCHS:  # the closed set in names.py (used without importing torch) must agree
    raise RuntimeError(f"architecture table generators {GENERATORS} differ from names.GENERATOR_ARCHS")
NCNN_ARCHS = tuple(name for name, spec in TABLE.items() if spec.ncnn is not None)


def spec(name: str) -> ArchSpec:
    if name not in TABLE:
        raise UserError(f"unknown architecture {name!r} (known: {', '.join(TABLE)})")
    return TABLE[name]


def matching_archs(state: Mapping[str, torch.Tensor]) -> list[str]:
    """Every architecture whose key names ``state`` has (``module.`` already stripped)."""
    keys = set(state)
    return [name for name, row in TABLE.items() if row.detect(keys)]


def detect_arch(state: Mapping[str, torch.Tensor], source: str = "<state dict>") -> str:
    """The one architecture whose key names ``state`` has (``module.`` already stripped)."""
    keys = set(state)
    found = matching_archs(state)
    if len(found) != 1:
        what = "no known architecture" if not found else f"several architectures ({', '.join(found)})"
        sample = ", ".join(sorted(keys)[:4])
        raise UserError(f"{source}: the key names ({sample}, ...) match {what}; pass --arch")
    return found[0]


def arch_class(name: str) -> type[nn.Module]:
    return spec(name).cls


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
