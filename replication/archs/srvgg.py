"""SRVGGNetCompact: the small plain-conv generator of realesr-animevideov3 / realesr-general-x4v3.

Layers live in one ``body`` list with BasicSR's indices: conv (0), act (1), [conv, act] × num_conv,
last conv; PReLU slopes are therefore ``body.{odd}.weight``. The last conv predicts
``num_out_ch · scale²`` channels that pixel-shuffle into the residual over a nearest upsampling.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from replication.archs.init import (
    default_init_,
    generator_from_seed,
    isolated_global_rng,
)
from replication.errors import UserError

ACT_TYPES = ("prelu", "relu", "lrelu")


class SRVGGNetCompact(nn.Module):
    """(N, num_in_ch, H, W) -> (N, num_out_ch, scale·H, scale·W). PyTorch default init from ``seed``."""

    arch_name = "srvgg"

    def __init__(
        self,
        *,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_conv: int = 16,
        scale: int = 4,
        act_type: Literal["prelu", "relu", "lrelu"] = "prelu",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if act_type not in ACT_TYPES:
            raise ValueError(f"SRVGGNetCompact act_type must be one of {ACT_TYPES}, got {act_type!r}")
        if scale < 1 or num_conv < 0 or num_feat < 1:
            raise ValueError(f"SRVGGNetCompact: bad sizes scale={scale} num_conv={num_conv} num_feat={num_feat}")
        self.hyperparameters = dict(
            num_in_ch=num_in_ch,
            num_out_ch=num_out_ch,
            num_feat=num_feat,
            num_conv=num_conv,
            scale=scale,
            act_type=act_type,
        )
        self.scale = scale
        with isolated_global_rng():
            layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), self._act(act_type, num_feat)]
            for _ in range(num_conv):
                layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), self._act(act_type, num_feat)]
            layers.append(nn.Conv2d(num_feat, num_out_ch * scale * scale, 3, 1, 1))
            self.body = nn.ModuleList(layers)
            self.upsampler = nn.PixelShuffle(scale)
        self.reset_parameters(seed)

    @staticmethod
    def _act(act_type: str, num_feat: int) -> nn.Module:
        if act_type == "prelu":
            return nn.PReLU(num_parameters=num_feat)  # slopes start at 0.25
        if act_type == "relu":
            return nn.ReLU()
        return nn.LeakyReLU(negative_slope=0.1)

    def reset_parameters(self, seed: int) -> None:
        gen = generator_from_seed(seed)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                default_init_(module, gen)
            elif isinstance(module, nn.PReLU):
                with torch.no_grad():
                    module.weight.fill_(0.25)

    input_multiple = 1

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side that can influence an output pixel."""
        return int(self.hyperparameters["num_conv"]) + 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        return self.upsampler(out) + F.interpolate(x, scale_factor=self.scale, mode="nearest")


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
