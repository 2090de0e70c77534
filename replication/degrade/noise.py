"""Additive Gaussian and Poisson noise with a per-sample "gray" (luma-only) option.

Shapes: images (B, C, H, W) float in [0, 1]; per-sample parameters (B,). Every function returns
the noisy image clamped to [0, 1] (the reference uses ``clip=True, rounds=False``: no 8-bit rounding
of the result).

Scopes (docs/reference-notes.md §2-§3): the noise *family* (Gaussian or Poisson) is one draw per
batch; sigma / Poisson scale and the gray flag are drawn per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from replication.degrade import draws
from replication.degrade.config import NoiseConfig
from replication.imageio import quantize_8bit

# torchvision's rgb_to_grayscale weights, which the reference's gray Poisson noise uses.
_GRAY_WEIGHTS = (0.2989, 0.587, 0.114)


@dataclass(frozen=True)
class NoiseDraw:
    """``family`` ('gaussian' or 'poisson', per batch); ``level`` (B,) sigma in 0..255 units or Poisson
    scale; ``gray`` (B,) bool."""

    family: str
    level: torch.Tensor
    gray: torch.Tensor


def _mix(color: torch.Tensor, gray: torch.Tensor | None, gray_flag: torch.Tensor) -> torch.Tensor:
    if gray is None:
        return color
    g = gray_flag.to(color.device, color.dtype).view(-1, 1, 1, 1)
    return color * (1 - g) + gray * g


def gaussian_noise(
    img: torch.Tensor,
    sigma: torch.Tensor,
    gray: torch.Tensor,
    generator: torch.Generator,
    gray_field_shared: bool = True,
) -> torch.Tensor:
    """img + N(0, (sigma/255)^2), clamped. (B, C, H, W), sigma (B,) in 0..255 units, gray (B,) bool.

    Colour noise is independent per channel; gray noise is one field broadcast to all channels.
    With ``gray_field_shared`` the gray field is one (H, W) draw for the whole batch, scaled by each
    sample's sigma (the reference's behaviour); otherwise each sample gets its own field.
    ``generator`` must live on ``img``'s device.
    """
    b, _, h, w = img.shape
    s = (sigma.to(img.device, img.dtype) / 255.0).view(-1, 1, 1, 1)
    color = torch.randn(img.shape, generator=generator, device=img.device, dtype=img.dtype) * s
    gray_noise = None
    if bool(gray.any()):
        shape = (1, 1, h, w) if gray_field_shared else (b, 1, h, w)
        gray_noise = torch.randn(shape, generator=generator, device=img.device, dtype=img.dtype) * s
    return (img + _mix(color, gray_noise, gray)).clamp_(0, 1)


_round8 = quantize_8bit


def _levels_per_sample(x8: torch.Tensor) -> torch.Tensor:
    """(B, ...) 8-bit-valued floats -> (B,) 2^ceil(log2(number of distinct values in the sample))."""
    b = x8.shape[0]
    codes = (x8.reshape(b, -1) * 255.0).round().long()
    offsets = (torch.arange(b, device=x8.device) * 256).view(-1, 1)
    counts = torch.bincount((codes + offsets).flatten(), minlength=256 * b).view(b, 256)
    distinct = (counts > 0).sum(dim=1).to(torch.float64)
    return torch.exp2(torch.ceil(torch.log2(distinct))).to(x8.dtype)


def _poisson_field(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Poisson noise of the 8-bit-rounded image x: Poisson(x_r * v) / v - x_r, v per sample."""
    x8 = _round8(x)
    vals = _levels_per_sample(x8).view(-1, *([1] * (x.ndim - 1)))
    return torch.poisson(x8 * vals, generator=generator) / vals - x8


def poisson_noise(
    img: torch.Tensor, scale: torch.Tensor, gray: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """img + scale * Poisson noise, clamped. (B, C, H, W), scale (B,), gray (B,) bool.

    The noise is computed from the image rounded to 8 bits with v = 2^ceil(log2(#distinct values))
    photon levels per sample (counted over all channels), and added to the unrounded image. Gray
    noise applies the same recipe to the luma image and broadcasts it to the channels.
    ``generator`` must live on ``img``'s device.
    """
    color = _poisson_field(img, generator)
    gray_noise = None
    if bool(gray.any()):
        weights = torch.tensor(_GRAY_WEIGHTS, device=img.device, dtype=img.dtype).view(1, 3, 1, 1)
        luma = (img * weights).sum(dim=1, keepdim=True)
        gray_noise = _poisson_field(luma, generator)
    s = scale.to(img.device, img.dtype).view(-1, 1, 1, 1)
    return (img + _mix(color, gray_noise, gray) * s).clamp_(0, 1)


def sample_noise(cfg: NoiseConfig, batch: int, generator: torch.Generator) -> NoiseDraw:
    """Family per batch (Gaussian with ``cfg.gaussian_prob``), level and gray flag per sample."""
    if draws.coin(cfg.gaussian_prob, generator):
        family, level = "gaussian", draws.uniform(*cfg.gaussian_sigma, batch, generator)
    else:
        family, level = "poisson", draws.uniform(*cfg.poisson_scale, batch, generator)
    return NoiseDraw(family, level, draws.bernoulli(cfg.gray_prob, batch, generator))


def add_noise(img: torch.Tensor, cfg: NoiseConfig, draw: NoiseDraw, field_generator: torch.Generator) -> torch.Tensor:
    """Apply a :class:`NoiseDraw` to (B, C, H, W); noise fields come from ``field_generator``."""
    if draw.family == "gaussian":
        return gaussian_noise(img, draw.level, draw.gray, field_generator, cfg.gray_field_shared)
    return poisson_noise(img, draw.level, draw.gray, field_generator)
