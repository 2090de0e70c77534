"""A labelled grid showing one GT crop through every degradation variant (for docs and reports)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from replication.degrade.config import DegradationConfig
from replication.degrade.crop import reflect101_indices
from replication.degrade.pipeline import VARIANTS, Degrader
from replication.errors import UserError
from replication.imageio import ImageReadError, from_uint8_rgb, read_image, write_image

_GAP = 4  # px between tiles
_LABEL_HEIGHT = 28


def _label(tile: torch.Tensor, text: str) -> torch.Tensor:
    """(3, H, W) -> (3, H + label strip, W) with ``text`` written in the strip."""
    width = tile.shape[-1]
    strip = np.full((_LABEL_HEIGHT, width, 3), 255, dtype=np.uint8)
    cv2.putText(strip, text, (6, _LABEL_HEIGHT - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    strip_t = from_uint8_rgb(strip)
    return torch.cat([strip_t, tile.cpu()], dim=1)


def center_crop(img: torch.Tensor, size: int) -> torch.Tensor:
    """(3, H, W) -> (3, size, size): reflect-101 padded if smaller, then the central crop."""
    _, h, w = img.shape
    if h < size:
        img = img.index_select(1, reflect101_indices(h, size))
    if w < size:
        img = img.index_select(2, reflect101_indices(w, size))
    h, w = img.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return img[:, top : top + size, left : left + size].contiguous()


def degrade_variants(gt: torch.Tensor, cfg: DegradationConfig, scale: int, seed: int) -> dict[str, torch.Tensor]:
    """(3, S, S) GT -> {variant: (3, S/scale, S/scale) LQ}; every variant starts from ``seed``."""
    out: dict[str, torch.Tensor] = {}
    for variant in VARIANTS:
        generator = torch.Generator().manual_seed(seed)
        out[variant] = Degrader(cfg, variant, scale, "cpu")(gt[None], generator).lq[0]
    return out


def render_preview(
    gt_path: str | os.PathLike, cfg: DegradationConfig, scale: int, seed: int, out_path: str | os.PathLike
) -> Path:
    """Write a 2 x 3 grid (GT, then each variant's LQ enlarged x``scale`` by pixel repetition).

    The GT is the central ``cfg.gt_crop`` crop of ``gt_path`` (reflect-padded if smaller); every
    variant degrades it starting from ``seed``.
    Returns ``out_path``.
    """
    try:
        image = read_image(gt_path)
    except (FileNotFoundError, ImageReadError) as exc:
        raise UserError(str(exc)) from None
    gt = center_crop(image.rgb[0], cfg.gt_crop)
    tiles = [_label(gt, "GT")]
    for variant, lq in degrade_variants(gt, cfg, scale, seed).items():
        big = F.interpolate(lq[None], scale_factor=scale, mode="nearest")[0]
        tiles.append(_label(big, variant))
    h, w = tiles[0].shape[-2:]
    cols = 3
    rows = (len(tiles) + cols - 1) // cols
    canvas = torch.ones(3, rows * h + (rows - 1) * _GAP, cols * w + (cols - 1) * _GAP)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        canvas[:, r * (h + _GAP) : r * (h + _GAP) + h, c * (w + _GAP) : c * (w + _GAP) + w] = tile
    return write_image(out_path, canvas[None])
