"""Random resizing (the reference's up / down / keep rule) and MATLAB-style bicubic ``imresize``.

``interpolate`` wraps ``F.interpolate`` with the reference's defaults: ``align_corners=False``, no
anti-aliasing; ``area`` is adaptive average pooling; ``bicubic`` uses a = -0.75 and may overshoot
[0, 1] (the next clamp removes it, as in the reference).

``imresize_matlab`` is MATLAB's ``imresize(img, scale, 'bicubic')`` with its default anti-aliasing:
cubic kernel with a = -0.5, widened by 1/scale when shrinking, symmetric (edge-repeating) borders.
It is the degradation of the classical bicubic SR datasets ESRGAN was trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from replication.degrade import draws
from replication.degrade.config import ResizeConfig

RESIZE_KINDS = ("up", "down", "keep")


@dataclass(frozen=True)
class ResizeDraw:
    """One per batch: ``kind`` (up/down/keep), ``factor`` (scale factor), ``mode`` (interpolation)."""

    kind: str
    factor: float
    mode: str


def sample_resize(cfg: ResizeConfig, generator: torch.Generator) -> ResizeDraw:
    """Up with probs[0] (factor ~ U(1, high)), down with probs[1] (U(low, 1)), else keep (1)."""
    kind = RESIZE_KINDS[int(draws.categorical(cfg.probs, 1, generator))]
    if kind == "up":
        factor = draws.uniform_float(1.0, cfg.range[1], generator)
    elif kind == "down":
        factor = draws.uniform_float(cfg.range[0], 1.0, generator)
    else:
        factor = 1.0
    mode = draws.choice(cfg.modes, generator)
    return ResizeDraw(kind, factor, mode)


def interpolate(
    img: torch.Tensor,
    mode: str,
    size: tuple[int, int] | None = None,
    scale_factor: float | None = None,
) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, h, w): to ``size``, or by ``scale_factor`` (h = floor(H * factor))."""
    if mode not in ("area", "bilinear", "bicubic", "nearest"):
        raise ValueError(f"unknown resize mode {mode!r}")
    if size is not None and min(size) < 1:
        raise ValueError(f"resize target {size} is empty")
    kwargs = {} if mode in ("area", "nearest") else {"align_corners": False}
    if size is not None:
        return F.interpolate(img, size=size, mode=mode, **kwargs)
    return F.interpolate(img, scale_factor=scale_factor, mode=mode, **kwargs)


def _cubic(x: torch.Tensor) -> torch.Tensor:
    """MATLAB's cubic convolution kernel (a = -0.5)."""
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    near = 1.5 * ax3 - 2.5 * ax2 + 1.0
    far = -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0
    return torch.where(ax <= 1, near, torch.where(ax <= 2, far, torch.zeros_like(ax)))


def matlab_weights(in_size: int, out_size: int, scale: float, antialias: bool = True) -> torch.Tensor:
    """(out_size, in_size) float64 interpolation matrix of MATLAB ``imresize`` (bicubic) for one axis."""
    shrink = antialias and scale < 1
    width = 4.0 / scale if shrink else 4.0
    j = torch.arange(1, out_size + 1, dtype=torch.float64)
    u = j / scale + 0.5 * (1 - 1 / scale)  # output pixel centre in 1-based input coordinates
    left = torch.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None]  # (out, taps), 1-based
    dist = u[:, None] - idx
    weights = scale * _cubic(scale * dist) if shrink else _cubic(dist)
    weights = weights / weights.sum(dim=1, keepdim=True)
    # MATLAB's symmetric border: the index sequence 1..n, n..1 repeated.
    period = 2 * in_size
    zero_based = torch.remainder(idx - 1, period)
    mirrored = torch.where(zero_based < in_size, zero_based, period - 1 - zero_based).long()
    matrix = torch.zeros(out_size, in_size, dtype=torch.float64)
    matrix.scatter_add_(1, mirrored, weights)
    return matrix


def imresize_matlab(img: torch.Tensor, scale: float) -> torch.Tensor:
    """MATLAB-style anti-aliased bicubic resize by ``scale``: (B, C, H, W) -> (B, C, ceil(H*s), ceil(W*s)).

    As a separable linear map it is two matrix products (rows, then columns); no clamping.
    """
    if scale <= 0:
        raise ValueError(f"resize scale must be positive, got {scale}")
    h, w = img.shape[-2:]
    out_h, out_w = math.ceil(h * scale - 1e-9), math.ceil(w * scale - 1e-9)
    rows = matlab_weights(h, out_h, scale).to(img.device, img.dtype)
    cols = matlab_weights(w, out_w, scale).to(img.device, img.dtype)
    return rows @ img @ cols.T
