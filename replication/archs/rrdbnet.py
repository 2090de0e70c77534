"""RRDBNet: the ESRGAN / Real-ESRNet / Real-ESRGAN generator.

Parameter names equal BasicSR's (``conv_first``, ``body.{b}.rdb{r}.conv{c}``, ``conv_body``,
``conv_up1``, ``conv_up2``, ``conv_hr``, ``conv_last``) so official ``.pth`` files load strictly.
The network always upsamples ×4 internally; scale 2 and 1 fold the input with pixel-unshuffle
first (factor 2 / 4), which is why those inputs must have sides divisible by 2 / 4.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from replication.archs.init import (
    default_init_,
    generator_from_seed,
    isolated_global_rng,
    scaled_kaiming_init_,
)

# input folding factor of each supported output scale
UNSHUFFLE_FACTOR = {4: 1, 2: 2, 1: 4}


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3×3 convs; returns ``0.2 · conv5(...) + x``. (N, F, H, W) -> same."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        for i in range(5):
            out_ch = num_grow_ch if i < 4 else num_feat
            setattr(self, f"conv{i + 1}", nn.Conv2d(num_feat + i * num_grow_ch, out_ch, 3, 1, 1))

    def convs(self) -> list[nn.Conv2d]:
        return [cast(nn.Conv2d, getattr(self, f"conv{i}")) for i in range(1, 6)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in self.convs()[:4]:
            feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), 0.2))
        return self.convs()[4](torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: three RDBs, then ``0.2 · out + x``. (N, F, H, W) -> same."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """RRDBNet generator. Input (N, num_in_ch, H, W) -> output (N, num_out_ch, scale·H, scale·W).

    For scale 2 (1), H and W must be divisible by 2 (4); :mod:`replication.archs.infer` pads for you.
    No output clamp. ``seed`` fixes the initial weights (RDB convs: kaiming-normal ×0.1, bias 0, as
    ESRGAN; the other convs: PyTorch's default init).
    """

    arch_name = "rrdbnet"

    def __init__(
        self,
        *,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        scale: int = 4,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if scale not in UNSHUFFLE_FACTOR:
            raise ValueError(f"RRDBNet scale must be 1, 2 or 4, got {scale}")
        for name, value in (
            ("num_in_ch", num_in_ch),
            ("num_out_ch", num_out_ch),
            ("num_feat", num_feat),
            ("num_block", num_block),
            ("num_grow_ch", num_grow_ch),
        ):
            if value < 1:
                raise ValueError(f"RRDBNet {name} must be positive, got {value}")
        self.hyperparameters = dict(
            num_in_ch=num_in_ch,
            num_out_ch=num_out_ch,
            scale=scale,
            num_feat=num_feat,
            num_block=num_block,
            num_grow_ch=num_grow_ch,
        )
        self.scale = scale
        self.unshuffle = UNSHUFFLE_FACTOR[scale]
        with isolated_global_rng():
            self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle**2, num_feat, 3, 1, 1)
            self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
            self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int) -> None:
        gen = generator_from_seed(seed)
        for name, module in self.named_modules():
            if isinstance(module, nn.Conv2d):
                if ".rdb" in name:
                    scaled_kaiming_init_(module, gen, 0.1)
                else:
                    default_init_(module, gen)

    @property
    def input_multiple(self) -> int:
        """H and W of the input must be multiples of this."""
        return self.unshuffle

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side that can influence an output pixel (an upper bound)."""
        blocks = self.hyperparameters["num_block"]
        # conv_first + 15 convs per RRDB + conv_body at LR; conv_up1 (at ×2) and conv_up2/hr/last (at ×4)
        # add < 2 LR pixels; nearest upsampling rounds by at most one more.
        lr_radius = 2 + 15 * blocks + 2 + 1
        return lr_radius * self.unshuffle

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = F.leaky_relu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        feat = F.leaky_relu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))


def rrdbnet_conv_names(num_block: int) -> list[str]:
    """Every conv of an RRDBNet in forward order (the order of the official ncnn files)."""
    names = ["conv_first"]
    for b in range(num_block):
        for r in (1, 2, 3):
            names += [f"body.{b}.rdb{r}.conv{c}" for c in range(1, 6)]
    return [*names, "conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
