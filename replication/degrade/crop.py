"""GT preparation before synthesis and the paired random crop after it.

``prepare_gt`` mirrors the reference dataset: horizontal flip with p = 0.5, reflect-101 padding of
the bottom/right up to the crop size, then a uniform random crop. ``paired_random_crop`` takes
ONE offset for the whole batch, as the reference does.
"""

from __future__ import annotations

from typing import overload

import torch

from replication.degrade import draws


def reflect101_indices(length: int, needed: int, device: torch.device | None = None) -> torch.Tensor:
    """(needed,) int64 source indices for reflect-101 extension (edge not repeated) of an axis.

    Works for any amount of padding (repeated reflection), e.g. a 3 px axis extended to 10 px:
    0 1 2 1 0 1 2 1 0 1.
    """
    idx = torch.arange(needed, device=device)
    if length == 1:
        return torch.zeros_like(idx)
    period = 2 * (length - 1)
    m = idx % period
    return torch.where(m < length, m, period - m)


def prepare_gt(img: torch.Tensor, size: int, hflip: bool, generator: torch.Generator) -> torch.Tensor:
    """(3, H, W) -> (3, size, size): flip (p = 0.5 if ``hflip``), reflect-101 pad, random crop."""
    if img.ndim != 3:
        raise ValueError(f"expected one image (C, H, W), got shape {tuple(img.shape)}")
    flip = draws.coin(0.5, generator) if hflip else False
    if flip:
        img = img.flip(-1)
    _, h, w = img.shape
    if h < size:
        img = img.index_select(1, reflect101_indices(h, size, img.device))
    if w < size:
        img = img.index_select(2, reflect101_indices(w, size, img.device))
    h, w = img.shape[-2:]
    top = int(torch.randint(h - size + 1, (), generator=generator))
    left = int(torch.randint(w - size + 1, (), generator=generator))
    return img[:, top : top + size, left : left + size].contiguous()


@overload
def paired_random_crop(
    gts: torch.Tensor, lq: torch.Tensor, gt_size: int, scale: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]: ...


@overload
def paired_random_crop(
    gts: list[torch.Tensor], lq: torch.Tensor, gt_size: int, scale: int, generator: torch.Generator
) -> tuple[list[torch.Tensor], torch.Tensor]: ...


def paired_random_crop(
    gts: list[torch.Tensor] | torch.Tensor,
    lq: torch.Tensor,
    gt_size: int,
    scale: int,
    generator: torch.Generator,
) -> tuple[list[torch.Tensor] | torch.Tensor, torch.Tensor]:
    """Crop the same region of every GT tensor (B, C, s*h, s*w) and of the LQ (B, C, h, w).

    One offset is drawn for the whole batch. Returns (GT crops (B, C, gt_size, gt_size) - a list if
    a list was given - and the LQ crop (B, C, gt_size/scale, gt_size/scale)).
    """
    single = isinstance(gts, torch.Tensor)
    gt_list: list[torch.Tensor] = [gts] if isinstance(gts, torch.Tensor) else list(gts)
    if gt_size % scale:
        raise ValueError(f"GT patch size {gt_size} is not divisible by scale {scale}")
    lq_size = gt_size // scale
    h, w = lq.shape[-2:]
    for gt in gt_list:
        if gt.shape[-2:] != (h * scale, w * scale):
            raise ValueError(f"GT of {tuple(gt.shape[-2:])} px is not {scale}x the LQ of {(h, w)} px")
    if h < lq_size or w < lq_size:
        raise ValueError(f"LQ of {h}x{w} px is smaller than the LQ patch {lq_size}x{lq_size} (GT patch {gt_size})")
    top = int(torch.randint(h - lq_size + 1, (), generator=generator))
    left = int(torch.randint(w - lq_size + 1, (), generator=generator))
    lq_crop = lq[..., top : top + lq_size, left : left + lq_size]
    gt_top, gt_left = top * scale, left * scale
    crops = [gt[..., gt_top : gt_top + gt_size, gt_left : gt_left + gt_size] for gt in gt_list]
    return (crops[0] if single else crops), lq_crop
