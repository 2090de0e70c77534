"""CDC (Wei et al., ECCV 2020): HGSR-MHR, the stacked-hourglass network of "Component Divide-and-Conquer".

A chain of ``num_hg`` hourglass blocks; three of them (the 2nd, the middle one and the last) feed
a pair of heads each: an upsampler that predicts the SR image for one image component (flat
regions, edges, corners) and a mask head that predicts, per colour channel, a logit for that
component. Per colour channel a softmax over the three logits weights the three SR images.
Module and parameter names equal the official checkpoint's (``conv_in``, ``HG_{h}``,
``{flat,edge,corner}_map``, ``upsample_{flat,edge,corner}``); see ``docs/baselines.md``.

Every layer is local, and four 2×2 max-pools per hourglass make the output depend on the 16-pixel
grid: inputs are padded to multiples of 16 (``input_multiple``) and tiles start on that grid, so a
tile pad ≥ ``receptive_radius`` reproduces whole-image output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from replication.archs.init import default_init_, generator_from_seed, isolated_global_rng
from replication.errors import UserError

HOURGLASS_DEPTH = 4  # max-pools per hourglass
# Upper bound of one hourglass's reach in input pixels: 3×3 convs at pooled level L reach 2^L each
# (down 1+2+4+8, middle 2×16, up 8+4+2+1), every pool and every nearest upsample adds one more cell
# (1+2+4+8 each way): 92; the two inception tail blocks add 2×2.
HG_RADIUS, TAIL_RADIUS = 92, 4


def _act() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2)


class ResidualBlock(nn.Module):
    """1×1 -> 3×3 -> 1×1 bottleneck (no biases) plus an identity, a 1×1 projection if widths differ."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.res = nn.Sequential(
            nn.Conv2d(cin, cout, 1, bias=False),
            _act(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            _act(),
            nn.Conv2d(cout, cout, 1, bias=False),
        )
        self.identity = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.identity(x) + self.res(x)


class InceptionBlock(nn.Module):
    """Three branches (1×1; 1×1-3×3; 1×1-3×3-3×3), concatenated, fused by a 1×1 conv, plus the input."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.res1 = nn.Sequential(nn.Conv2d(ch, ch, 1, bias=False), _act())
        self.res2 = nn.Sequential(nn.Conv2d(ch, ch, 1, bias=False), nn.Conv2d(ch, ch, 3, 1, 1, bias=False), _act())
        self.res3 = nn.Sequential(
            nn.Conv2d(ch, ch, 1, bias=False),
            nn.Conv2d(ch, ch, 3, 1, 1, bias=False),
            _act(),
            nn.Conv2d(ch, ch, 3, 1, 1, bias=False),
            _act(),
        )
        self.filter_concat = nn.Conv2d(3 * ch, ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.filter_concat(torch.cat((self.res1(x), self.res2(x), self.res3(x)), 1))


class TopDown(nn.Module):
    """Residual block, then 2×2 max-pool; returns (pooled, pre-pool skip)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.res_block = ResidualBlock(cin, cout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.res_block(x)
        return F.max_pool2d(skip, 2), skip


class BottomUp(nn.Module):
    """Nearest ×2 upsampling, add the skip, residual block."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.res_block = ResidualBlock(cin, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.res_block(F.interpolate(x, scale_factor=2, mode="nearest") + skip)


class HourGlass(nn.Module):
    """nf -> 2nf -> 2nf -> 4nf -> 4nf and back, with residual skips; returns (tail output, pre-tail output)."""

    skip_conv0: nn.Module  # set with setattr below, with the other skip_conv{i}

    def __init__(self, nf: int, with_tail: bool) -> None:
        super().__init__()
        widths = [nf, 2 * nf, 2 * nf, 4 * nf, 4 * nf]  # 64, 128, 128, 256, 256 at nf=64
        for i in range(HOURGLASS_DEPTH):
            setattr(self, f"down{i + 1}", TopDown(widths[i], widths[i + 1]))
        self.mid_res = nn.Sequential(ResidualBlock(widths[4], widths[4]), ResidualBlock(widths[4], widths[4]))
        for i in range(HOURGLASS_DEPTH):  # up1 works at the deepest level, up4 at full resolution
            level = HOURGLASS_DEPTH - i
            setattr(self, f"up{i + 1}", BottomUp(widths[level], widths[level - 1]))
        for i, w in enumerate(widths):
            setattr(self, f"skip_conv{i}", ResidualBlock(w, w))
        self.tail: nn.Module | None = nn.Sequential(InceptionBlock(nf), InceptionBlock(nf)) if with_tail else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skips = []
        feat = x
        for i in range(HOURGLASS_DEPTH):
            feat, skip = getattr(self, f"down{i + 1}")(feat)
            skips.append(skip)
        feat = self.mid_res(feat)
        for i in range(HOURGLASS_DEPTH):
            level = HOURGLASS_DEPTH - i  # skip of down{level}, refined by skip_conv{level}
            feat = getattr(self, f"up{i + 1}")(feat, getattr(self, f"skip_conv{level}")(skips[level - 1]))
        inter = self.skip_conv0(x) + feat  # skip_conv{i} are set with setattr above
        return (self.tail(inter) if self.tail is not None else inter), inter


def _head(nf: int, out_ch: int, scale: int, last_kernel: int) -> nn.Sequential:
    """LR conv, upsampling stages (nearest, conv, LReLU), conv + LReLU, last conv; official indices."""
    stages: list[nn.Module] = [nn.Sequential(nn.Conv2d(nf, nf, 3, 1, 1))]
    for step in [2, 2] if scale == 4 else [scale]:
        stages.append(nn.Sequential(nn.Upsample(scale_factor=step, mode="nearest"), nn.Conv2d(nf, nf, 3, 1, 1), _act()))
    stages.append(nn.Sequential(nn.Conv2d(nf, nf, 3, 1, 1), _act()))
    stages.append(nn.Sequential(nn.Conv2d(nf, out_ch, last_kernel, 1, last_kernel // 2)))
    return nn.Sequential(*stages)


COMPONENTS = ("flat", "edge", "corner")


class CDC(nn.Module):
    """HGSR-MHR. Input (N, 3, H, W) RGB in [0, 1], H and W multiples of 16 -> (N, 3, scale·H, scale·W).

    No output clamp. :mod:`replication.archs.infer` reflect-pads other sizes on the right/bottom and
    crops the result. ``seed`` fixes the initial weights (PyTorch's default init).
    """

    arch_name = "cdc"
    input_multiple = 2**HOURGLASS_DEPTH

    def __init__(self, *, num_feat: int = 64, num_hg: int = 6, scale: int = 4, seed: int = 0) -> None:
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"CDC scale must be 2, 3 or 4, got {scale}")
        if num_feat < 1 or num_hg < 2:
            raise ValueError(f"CDC: bad sizes num_feat={num_feat} num_hg={num_hg} (>= 2)")
        self.hyperparameters = dict(num_feat=num_feat, num_hg=num_hg, scale=scale)
        self.scale = scale
        # hourglasses whose features feed the flat / edge / corner heads
        self.supervised = (1, num_hg // 2, num_hg - 1)
        with isolated_global_rng():
            self.conv_in = nn.Sequential(nn.Conv2d(3, num_feat, 3, 1, 1))
            for h in range(num_hg):
                setattr(self, f"HG_{h}", HourGlass(num_feat, with_tail=h < num_hg - 1))
            mask_kernel = 3 if scale == 3 else 1  # the official x3 model changed this conv only
            for comp in COMPONENTS:
                setattr(self, f"{comp}_map", _head(num_feat, 3, scale, mask_kernel))
                setattr(self, f"upsample_{comp}", _head(num_feat, 3, scale, 3))
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int) -> None:
        gen = generator_from_seed(seed)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                default_init_(module, gen)

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side that can influence an output pixel (an upper bound).

        conv_in 1, each hourglass 92 (+4 with its tail), the heads < 3 LR pixels.
        """
        num_hg = self.hyperparameters["num_hg"]
        return 1 + num_hg * HG_RADIUS + (num_hg - 1) * TAIL_RADIUS + 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % self.input_multiple or x.shape[-1] % self.input_multiple:
            raise ValueError(f"CDC input sides must be multiples of {self.input_multiple}, got {tuple(x.shape[-2:])}")
        first = self.conv_in(x)
        feat = first
        srs, logits = {}, {}
        last = self.hyperparameters["num_hg"] - 1
        for h in range(last + 1):
            feat, inter = getattr(self, f"HG_{h}")(feat)
            for comp, at in zip(COMPONENTS, self.supervised, strict=True):
                if at != h:
                    continue
                # the last hourglass adds a scaled global residual from conv_in
                source = 0.2 * feat + first if comp == "corner" else inter
                srs[comp] = getattr(self, f"upsample_{comp}")(source)
                logits[comp] = getattr(self, f"{comp}_map")(source)
        # per colour channel, a softmax over the three components' logits
        masks = torch.softmax(torch.stack([logits[c] for c in COMPONENTS], 0), dim=0)
        return sum(masks[i] * srs[c] for i, c in enumerate(COMPONENTS))


def infer_hyperparameters(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """CDC hyperparameters implied by an official-named state dict."""
    try:
        first = state["conv_in.0.weight"]
    except KeyError as exc:
        raise UserError(f"not a CDC state dict (missing {exc.args[0]})") from None
    num_hg = len({k.split(".")[0] for k in state if k.startswith("HG_")})
    if "upsample_flat.4.0.weight" in state:
        scale = 4
    elif "flat_map.3.0.weight" in state:
        # x2 and x3 have the same keys; only x3's mask heads end in a 3×3 conv
        scale = 3 if state["flat_map.3.0.weight"].shape[-1] == 3 else 2
    else:
        raise UserError("cannot tell the CDC scale from flat_map.* / upsample_flat.*")
    return dict(num_feat=int(first.shape[0]), num_hg=num_hg, scale=scale)
