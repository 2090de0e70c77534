"""Convert an official PyTorch ``.pth`` checkpoint into our checkpoint format.

The file is read with ``torch.load(weights_only=True)`` (see :mod:`replication.archs.checkpoint`),
unwrapped (``params_ema`` preferred, then ``params``), renamed from the old ESRGAN naming if needed,
loaded strictly into the architecture and saved as safetensors + sidecar.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from replication.archs.checkpoint import load_pth_with_key, load_strict, save_model
from replication.archs.keymap import infer_rrdbnet_hyperparameters, to_basicsr_names
from replication.archs.registry import GENERATORS, build_arch, hyperparameter_names
from replication.errors import UserError
from replication.fsutil import sha256_file


def infer_srvgg_hyperparameters(state: Mapping[str, torch.Tensor]) -> dict[str, object]:
    """SRVGGNetCompact hyperparameters implied by a ``body.{i}`` state dict."""
    conv_idx = sorted(int(k.split(".")[1]) for k in state if k.startswith("body.") and k.endswith(".bias"))
    if not conv_idx or "body.0.weight" not in state:
        raise UserError("not an SRVGGNetCompact state dict (no body.{i}.weight/bias)")
    first = state["body.0.weight"]
    last = state[f"body.{conv_idx[-1]}.weight"]
    num_feat, num_in_ch = int(first.shape[0]), int(first.shape[1])
    has_prelu = "body.1.weight" in state
    # without PReLU weights the activation cannot be read off the file; relu is the official alternative
    act_type = "prelu" if has_prelu else "relu"
    out = int(last.shape[0])
    for num_out_ch in (num_in_ch, 3, 1):
        scale = math.isqrt(out // num_out_ch) if out % num_out_ch == 0 else 0
        if scale and scale * scale * num_out_ch == out:
            return dict(
                num_in_ch=num_in_ch,
                num_out_ch=num_out_ch,
                num_feat=num_feat,
                num_conv=len(conv_idx) - 2,
                scale=scale,
                act_type=act_type,
            )
    raise UserError(f"cannot tell the SRVGGNetCompact scale from a last conv with {out} outputs")


def pth_to_model(
    pth: str | os.PathLike, arch: str, key: str | None = None, **given: object
) -> tuple[torch.nn.Module, dict[str, object]]:
    """Build ``arch`` holding the weights of ``pth``; ``given`` hyperparameters (None = infer) are checked.

    Returns (network in eval mode, facts for the sidecar: wrapper key used, key naming).
    """
    pth = Path(pth)
    if arch not in GENERATORS and arch not in ("unet_discriminator", "vgg_discriminator"):
        raise UserError(f"cannot import .pth weights into {arch!r}")
    state, used_key = load_pth_with_key(pth, key)
    naming = "basicsr"
    if arch == "rrdbnet":
        state, naming = to_basicsr_names(state, str(pth))
        inferred = infer_rrdbnet_hyperparameters(state)
    elif arch == "srvgg":
        inferred = infer_srvgg_hyperparameters(state)
    else:
        inferred = {}
    hyper = dict(inferred)
    for name, value in given.items():
        if value is None:
            continue
        if name not in hyperparameter_names(arch):
            raise UserError(f"{arch}: unknown hyperparameter {name}")
        if name in inferred and inferred[name] != value:
            raise UserError(f"{pth}: the weights imply {name}={inferred[name]}, but {name}={value} was given")
        hyper[name] = value
    net = build_arch(arch, **hyper)
    load_strict(net, state, str(pth))
    return net.eval(), {"pth_key": used_key, "key_naming": naming}


def import_pth(
    pth: str | os.PathLike,
    out: str | os.PathLike,
    arch: str,
    *,
    key: str | None = None,
    extra: dict | None = None,
    **given: object,
) -> Path:
    """Convert ``pth`` to ``out`` (.safetensors + sidecar). Weights are kept exactly (float32)."""
    net, facts = pth_to_model(pth, arch, key, **given)
    return save_model(
        out,
        net,
        source=f"pth:{Path(pth).name}",
        source_sha256=sha256_file(pth),
        fp16_rounded=False,
        extra={**facts, **(extra or {})},
    )
