"""Rename RRDBNet state dicts from older naming schemes to BasicSR's.

Two older layouts exist for the same network:

* ESRGAN (2019+) / mmsr / RealSR / KAIR (BSRGAN): ``conv_first``, ``RRDB_trunk.{b}.RDB{r}.conv{c}``,
  ``trunk_conv``, ``upconv1``, ``upconv2``, ``HRconv``, ``conv_last``;
* the original 2018 ESRGAN release (sequential model): ``model.0``, ``model.1.sub.{b}.RDB{r}.conv{c}.0``,
  ``model.1.sub.{num_block}`` (trunk conv), ``model.3`` / ``model.6`` (up-convs), ``model.8`` (HR conv),
  ``model.10`` (last conv).

Detection is by key names; anything left unmapped is an error naming the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from replication.errors import UserError

_ESRGAN_TOP = {
    "conv_first": "conv_first",
    "trunk_conv": "conv_body",
    "upconv1": "conv_up1",
    "upconv2": "conv_up2",
    "HRconv": "conv_hr",
    "conv_last": "conv_last",
}
_ESRGAN_BLOCK = re.compile(r"^RRDB_trunk\.(\d+)\.RDB([123])\.conv([1-5])\.(weight|bias)$")
_SEQ_BLOCK = re.compile(r"^model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.(weight|bias)$")
_SEQ_TOP = {
    "model.0": "conv_first",
    "model.3": "conv_up1",
    "model.6": "conv_up2",
    "model.8": "conv_hr",
    "model.10": "conv_last",
}


def detect_rrdb_naming(state: Mapping[str, torch.Tensor]) -> str:
    """``basicsr``, ``esrgan`` (RRDB_trunk names) or ``esrgan-sequential`` (model.N names)."""
    keys = list(state)
    if any(k.startswith("RRDB_trunk.") for k in keys):
        return "esrgan"
    if any(k.startswith("model.1.sub.") for k in keys):
        return "esrgan-sequential"
    return "basicsr"


def to_basicsr_names(
    state: Mapping[str, torch.Tensor], source: str = "<state dict>"
) -> tuple[dict[str, torch.Tensor], str]:
    """Return (renamed state dict, detected naming). BasicSR-named input is returned unchanged."""
    naming = detect_rrdb_naming(state)
    if naming == "basicsr":
        return dict(state), naming
    out: dict[str, torch.Tensor] = {}
    if naming == "esrgan":
        for key, value in state.items():
            m = _ESRGAN_BLOCK.match(key)
            if m:
                b, r, c, kind = m.groups()
                out[f"body.{b}.rdb{r}.conv{c}.{kind}"] = value
                continue
            prefix, _, kind = key.rpartition(".")
            if prefix in _ESRGAN_TOP and kind in ("weight", "bias"):
                out[f"{_ESRGAN_TOP[prefix]}.{kind}"] = value
                continue
            raise UserError(f"{source}: unexpected key {key!r} for the ESRGAN (RRDB_trunk) naming")
        return out, naming
    blocks = {int(m.group(1)) for k in state if (m := _SEQ_BLOCK.match(k))}
    trunk = f"model.1.sub.{len(blocks)}"
    for key, value in state.items():
        m = _SEQ_BLOCK.match(key)
        if m:
            b, r, c, kind = m.groups()
            out[f"body.{b}.rdb{r}.conv{c}.{kind}"] = value
            continue
        prefix, _, kind = key.rpartition(".")
        if prefix == trunk:
            out[f"conv_body.{kind}"] = value
        elif prefix in _SEQ_TOP:
            out[f"{_SEQ_TOP[prefix]}.{kind}"] = value
        else:
            raise UserError(f"{source}: unexpected key {key!r} for the sequential ESRGAN naming")
    return out, naming


def infer_rrdbnet_hyperparameters(state: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """RRDBNet hyperparameters implied by a BasicSR-named state dict's shapes."""
    try:
        first = state["conv_first.weight"]
        last = state["conv_last.weight"]
        grow = state["body.0.rdb1.conv1.weight"]
    except KeyError as exc:
        raise UserError(f"not an RRDBNet state dict (missing {exc.args[0]})") from None
    num_block = len({k.split(".")[1] for k in state if k.startswith("body.")})
    num_feat = int(first.shape[0])
    in_folded = int(first.shape[1])
    num_out_ch = int(last.shape[0])
    # conv_first sees num_in_ch · f² channels (f = pixel-unshuffle factor 1/2/4 for scale 4/2/1)
    for scale, factor in ((4, 1), (2, 2), (1, 4)):
        if in_folded == num_out_ch * factor * factor:
            return dict(
                num_in_ch=num_out_ch,
                num_out_ch=num_out_ch,
                scale=scale,
                num_feat=num_feat,
                num_block=num_block,
                num_grow_ch=int(grow.shape[0]),
            )
    raise UserError(f"cannot tell the RRDBNet scale from conv_first with {in_folded} input channels")
