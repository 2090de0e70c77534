"""Convert an official PyTorch ``.pth`` checkpoint into our checkpoint format.

The file is read with ``torch.load(weights_only=True)`` (see :mod:`replication.archs.checkpoint`),
unwrapped (``params_ema`` preferred, then ``params``), renamed from the old ESRGAN naming if needed,
loaded strictly into the architecture and saved as safetensors + sidecar.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from replication.archs.checkpoint import check_finite_weights, load_pth_with_key, load_strict, save_model
from replication.archs.registry import build_arch, detect_arch, hyperparameter_names, spec
from replication.errors import UserError
from replication.fsutil import sha256_file


def pth_to_model(
    pth: str | os.PathLike, arch: str, key: str | None = None, *, mirror: Path | None = None, **given: object
) -> tuple[torch.nn.Module, dict[str, object]]:
    """Build ``arch`` (``"auto"``: detected from the key names) holding the weights of ``pth``.

    ``given`` hyperparameters (None = infer) are checked against what the weights imply.

    Returns (network in eval mode, facts for the sidecar: wrapper key used, key naming, and the
    architecture's own checks against reference files in ``mirror``, if it has any).
    """
    pth = Path(pth)
    state, used_key = load_pth_with_key(pth, key)
    net, facts = state_to_model(state, arch, str(pth), mirror=mirror, **given)
    return net, {"pth_key": used_key, **facts}


def state_to_model(
    state: dict[str, torch.Tensor], arch: str, source: str, *, mirror: Path | None = None, **given: object
) -> tuple[torch.nn.Module, dict[str, object]]:
    """As :func:`pth_to_model`, for tensors already read (``source`` names them in messages)."""
    check_finite_weights(state, source)
    if arch == "auto":
        arch = detect_arch(state, source)
    row = spec(arch)
    state, naming = row.key_map(state, source)
    inferred = row.infer(state) if row.infer is not None else {}
    hyper = dict(inferred)
    for name, value in given.items():
        if value is None:
            continue
        if name not in hyperparameter_names(arch):
            raise UserError(f"{arch}: unknown hyperparameter {name}")
        if name in inferred and inferred[name] != value:
            raise UserError(f"{source}: the weights imply {name}={inferred[name]}, but {name}={value} was given")
        hyper[name] = value
    net = build_arch(arch, **hyper)
    load_strict(net, state, source)
    facts: dict[str, object] = {"key_naming": naming}
    if row.verify is not None:
        facts.update(row.verify(state, mirror))
    return net.eval(), facts


def import_pth(
    pth: str | os.PathLike,
    out: str | os.PathLike,
    arch: str,
    *,
    key: str | None = None,
    extra: dict | None = None,
    mirror: Path | None = None,
    **given: object,
) -> Path:
    """Convert ``pth`` to ``out`` (.safetensors + sidecar). Weights are kept exactly (float32)."""
    net, facts = pth_to_model(pth, arch, key, mirror=mirror, **given)
    return save_model(
        out,
        net,
        source=f"pth:{Path(pth).name}",
        source_sha256=sha256_file(pth),
        fp16_rounded=False,
        extra={**facts, **(extra or {})},
    )
