"""Discriminators: Real-ESRGAN's U-Net (with optional spectral norm) and ESRGAN's VGG-style one.

Names equal BasicSR's so official discriminator checkpoints load strictly. Spectral norm is
``torch.nn.utils.spectral_norm`` (keys ``convN.weight_orig`` / ``weight_u`` / ``weight_v``; one
power iteration per training-mode forward), applied to conv1…conv8 only, as the reference does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm as add_spectral_norm

from replication.archs.init import (
    default_init_,
    generator_from_seed,
    isolated_global_rng,
    reset_spectral_norm_vectors_,
)


def _act(t: torch.Tensor) -> torch.Tensor:
    """The discriminators' activation: leaky ReLU with slope 0.2."""
    return F.leaky_relu(t, 0.2)


class UNetDiscriminator(nn.Module):
    """U-Net discriminator. Input (N, num_in_ch, H, W), H and W divisible by 8 -> logits (N, 1, H, W)."""

    arch_name = "unet_discriminator"

    def __init__(
        self,
        *,
        num_in_ch: int = 3,
        num_feat: int = 64,
        skip_connection: bool = True,
        spectral_norm: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.hyperparameters = dict(
            num_in_ch=num_in_ch, num_feat=num_feat, skip_connection=skip_connection, spectral_norm=spectral_norm
        )
        self.skip_connection = skip_connection
        nf = num_feat
        norm = add_spectral_norm if spectral_norm else (lambda m: m)
        with isolated_global_rng():
            self.conv0 = nn.Conv2d(num_in_ch, nf, 3, 1, 1)
            # encoder: three stride-2 4×4 convs
            self.conv1 = norm(nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False))
            self.conv2 = norm(nn.Conv2d(nf * 2, nf * 4, 4, 2, 1, bias=False))
            self.conv3 = norm(nn.Conv2d(nf * 4, nf * 8, 4, 2, 1, bias=False))
            # decoder: bilinear ×2 then 3×3 conv, skip added after the activation
            self.conv4 = norm(nn.Conv2d(nf * 8, nf * 4, 3, 1, 1, bias=False))
            self.conv5 = norm(nn.Conv2d(nf * 4, nf * 2, 3, 1, 1, bias=False))
            self.conv6 = norm(nn.Conv2d(nf * 2, nf, 3, 1, 1, bias=False))
            self.conv7 = norm(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
            self.conv8 = norm(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
            self.conv9 = nn.Conv2d(nf, 1, 3, 1, 1)
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int) -> None:
        gen = generator_from_seed(seed)
        for i in range(10):
            conv = getattr(self, f"conv{i}")
            default_init_(conv, gen)
            reset_spectral_norm_vectors_(conv, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError(f"UNetDiscriminator needs H and W divisible by 8, got {tuple(x.shape[-2:])}")

        def up(t: torch.Tensor) -> torch.Tensor:
            return F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)

        x0 = _act(self.conv0(x))
        x1 = _act(self.conv1(x0))
        x2 = _act(self.conv2(x1))
        x3 = _act(self.conv3(x2))
        x4 = _act(self.conv4(up(x3)))
        if self.skip_connection:
            x4 = x4 + x2
        x5 = _act(self.conv5(up(x4)))
        if self.skip_connection:
            x5 = x5 + x1
        x6 = _act(self.conv6(up(x5)))
        if self.skip_connection:
            x6 = x6 + x0
        out = _act(self.conv7(x6))
        out = _act(self.conv8(out))
        return self.conv9(out)


class VGGStyleDiscriminator(nn.Module):
    """ESRGAN's discriminator. Input (N, num_in_ch, S, S) with S = input_size -> (N, 1).

    The official network exists for S = 128 and 256 (key names and shapes match those releases).
    Other sizes of the form 4·2^n (e.g. 64, used by the smoke profile's small patches) follow the same
    rule the two official layouts follow: stride-2 stages until the feature map is 4×4, the channel
    count doubling up to 8·num_feat, then the same two linear layers.
    """

    arch_name = "vgg_discriminator"

    def __init__(self, *, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 128, seed: int = 0) -> None:
        super().__init__()
        downsamples = (input_size // 4).bit_length() - 1  # stride-2 convs that bring S down to 4
        if input_size < 16 or 4 << downsamples != input_size:
            raise ValueError(
                f"VGGStyleDiscriminator input_size must be 4·2^n with n >= 2 (official: 128, 256), got {input_size}"
            )
        self.hyperparameters = dict(num_in_ch=num_in_ch, num_feat=num_feat, input_size=input_size)
        self.input_size = input_size
        nf = num_feat
        # (in, out) channels of stages 1..4(5); each stage is a 3×3 conv then a stride-2 4×4 conv
        # conv0_1 is the first stride-2 conv; each further stage adds one. 128 -> 4 stages, 256 -> 5.
        stages = []
        channels = nf
        for _ in range(downsamples - 1):
            stages.append((channels, min(channels * 2, nf * 8)))
            channels = min(channels * 2, nf * 8)
        self.num_stages = len(stages)
        with isolated_global_rng():
            self.conv0_0 = nn.Conv2d(num_in_ch, nf, 3, 1, 1, bias=True)
            self.conv0_1 = nn.Conv2d(nf, nf, 4, 2, 1, bias=False)
            self.bn0_1 = nn.BatchNorm2d(nf, affine=True)
            for i, (cin, cout) in enumerate(stages, start=1):
                setattr(self, f"conv{i}_0", nn.Conv2d(cin, cout, 3, 1, 1, bias=False))
                setattr(self, f"bn{i}_0", nn.BatchNorm2d(cout, affine=True))
                setattr(self, f"conv{i}_1", nn.Conv2d(cout, cout, 4, 2, 1, bias=False))
                setattr(self, f"bn{i}_1", nn.BatchNorm2d(cout, affine=True))
            self.linear1 = nn.Linear(channels * 4 * 4, 100)  # nf*8*4*4 for every size >= 64
            self.linear2 = nn.Linear(100, 1)
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int) -> None:
        gen = generator_from_seed(seed)
        for module in self.modules():
            default_init_(module, gen)  # no-op for BatchNorm, which keeps weight 1 / bias 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise ValueError(
                f"VGGStyleDiscriminator built for {self.input_size}×{self.input_size} inputs, got {tuple(x.shape[-2:])}"
            )
        feat = _act(self.conv0_0(x))
        feat = _act(self.bn0_1(self.conv0_1(feat)))
        for i in range(1, self.num_stages + 1):
            feat = _act(getattr(self, f"bn{i}_0")(getattr(self, f"conv{i}_0")(feat)))
            feat = _act(getattr(self, f"bn{i}_1")(getattr(self, f"conv{i}_1")(feat)))
        feat = _act(self.linear1(feat.flatten(1)))
        return self.linear2(feat)
