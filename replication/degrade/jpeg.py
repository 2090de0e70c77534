"""Batched JPEG compression in torch with the reference's DiffJPEG semantics (non-differentiable).

Per sample quality q (a float: the quality factor is continuous), on any device, no loops over
blocks. Semantics (docs/reference-notes.md §4), which differ from libjpeg on purpose:

* quality -> table factor f = 50/q for q < 50, else 2 - q/50; the Annex-K tables are multiplied by
  f without integer rounding or [1, 255] clamping (q must stay below 100: f = 0 at q = 100);
* zero padding (black) at the bottom/right to a multiple of 16 px, cropped away afterwards;
* full-range BT.601 RGB -> YCbCr on 0..255 values with no pixel rounding; 4:2:0 chroma by 2x2
  averaging, nearest up-sampling on decode;
* 8x8 orthonormal DCT-II after a -128 level shift, ``round(coef / (table * f)) * table * f``;
* output clamped to [0, 255] and divided by 255, not rounded to integers.

The reference stores both tables transposed and pairs the first coefficient index with the block
row, so the luma table is applied transposed (vertical frequency u meets entry [v][u] of the
standard table). We keep that, so our JPEG artefacts have the reference's distribution; the luma
table is nearly symmetric and the chroma table is symmetric, so the effect is small.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# ITU-T T.81 Annex K tables, rows = vertical frequency (as printed in the standard).
LUMA_TABLE = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
CHROMA_TABLE = (
    (17, 18, 24, 47, 99, 99, 99, 99),
    (18, 21, 26, 66, 99, 99, 99, 99),
    (24, 26, 56, 99, 99, 99, 99, 99),
    (47, 66, 99, 99, 99, 99, 99, 99),
) + ((99,) * 8,) * 4

_RGB_TO_YCBCR = (
    (0.299, 0.587, 0.114),
    (-0.168736, -0.331264, 0.5),
    (0.5, -0.418688, -0.081312),
)
_YCBCR_TO_RGB = (
    (1.0, 0.0, 1.402),
    (1.0, -0.344136, -0.714136),
    (1.0, 1.772, 0.0),
)


def quality_to_factor(quality: torch.Tensor) -> torch.Tensor:
    """(B,) JPEG quality in (0, 100) -> (B,) multiplier of the quantisation tables."""
    if bool(((quality <= 0) | (quality >= 100)).any()):
        raise ValueError(f"JPEG quality must lie in (0, 100), got {quality.tolist()}")
    return torch.where(quality < 50, 50.0 / quality, 2.0 - quality * 0.02)


def _dct_matrix(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(8, 8) orthonormal DCT-II matrix D[u, x] = a(u) cos((2x + 1) u pi / 16)."""
    u = torch.arange(8, dtype=torch.float64)[:, None]
    x = torch.arange(8, dtype=torch.float64)[None]
    d = torch.cos((2 * x + 1) * u * math.pi / 16) * 0.5
    d[0] /= math.sqrt(2)
    return d.to(device, dtype)


def _to_blocks(plane: torch.Tensor) -> torch.Tensor:
    """(B, H, W) -> (B, H/8, W/8, 64), each row one 8x8 block in row-major order."""
    b, h, w = plane.shape
    return plane.view(b, h // 8, 8, w // 8, 8).permute(0, 1, 3, 2, 4).reshape(b, h // 8, w // 8, 64)


def _from_blocks(blocks: torch.Tensor) -> torch.Tensor:
    """(B, H/8, W/8, 64) -> (B, H, W)."""
    b, nh, nw = blocks.shape[:3]
    return blocks.view(b, nh, nw, 8, 8).permute(0, 1, 3, 2, 4).reshape(b, nh * 8, nw * 8)


def _quantise_plane(plane: torch.Tensor, steps: torch.Tensor, dct: torch.Tensor) -> torch.Tensor:
    """Level shift, DCT, quantise/dequantise, inverse DCT: (B, H, W) 0..255 -> (B, H, W).

    ``steps``: (B, 8, 8) effective quantisation steps (factor applied). The 2-D DCT of a block is
    one product with the 64x64 matrix kron(D, D), so a whole plane is a single matrix multiply.
    """
    dct2 = torch.kron(dct, dct)  # [u*8+v, x*8+y] = D[u, x] D[v, y]
    coef = _to_blocks(plane - 128.0) @ dct2.T
    step = steps.reshape(-1, 1, 1, 64)
    coef = torch.round(coef / step) * step
    return _from_blocks(coef @ dct2) + 128.0


def diff_jpeg(img: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG-compress each image at its own quality: (B, 3, H, W) RGB in [0, 1], quality (B,) -> same shape.

    The input is expected in [0, 1] (the pipeline clamps before calling); the output is in [0, 1].
    """
    if img.ndim != 4 or img.shape[1] != 3:
        raise ValueError(f"expected an RGB batch (B, 3, H, W), got shape {tuple(img.shape)}")
    b, _, h, w = img.shape
    quality = quality.to(img.device, torch.float64).reshape(-1)
    if quality.numel() != b:
        raise ValueError(f"{quality.numel()} JPEG qualities for a batch of {b} images")
    factor = quality_to_factor(quality).to(img.dtype)
    pad_h, pad_w = (-h) % 16, (-w) % 16
    x = F.pad(img, (0, pad_w, 0, pad_h)) * 255.0

    to_ycc = torch.tensor(_RGB_TO_YCBCR, device=img.device, dtype=img.dtype)
    ycc = torch.einsum("kc,bchw->bkhw", to_ycc, x)
    y = ycc[:, 0]
    chroma = F.avg_pool2d(ycc[:, 1:] + 128.0, kernel_size=2, stride=2)

    dct = _dct_matrix(img.device, img.dtype)
    luma_steps = torch.tensor(LUMA_TABLE, device=img.device, dtype=img.dtype).T  # reference orientation
    chroma_steps = torch.tensor(CHROMA_TABLE, device=img.device, dtype=img.dtype).T
    f = factor.view(-1, 1, 1)
    y = _quantise_plane(y, luma_steps * f, dct)
    hc, wc = chroma.shape[-2:]
    cbcr = _quantise_plane(chroma.reshape(b * 2, hc, wc), (chroma_steps * f).repeat_interleave(2, 0), dct)
    cbcr = cbcr.view(b, 2, hc, wc).repeat_interleave(2, dim=2).repeat_interleave(2, dim=3) - 128.0

    to_rgb = torch.tensor(_YCBCR_TO_RGB, device=img.device, dtype=img.dtype)
    rgb = torch.einsum("ck,bkhw->bchw", to_rgb, torch.cat([y[:, None], cbcr], dim=1))
    return (rgb.clamp(0, 255) / 255.0)[..., :h, :w].contiguous()
