"""Degradation variants behind one interface, :class:`Degrader`.

Variants (``variants.<name>.degradation`` in params.yaml):

* ``second_order``: the paper's high-order model (:mod:`replication.degrade.second_order`);
* ``first_order``: the classical one-pass model of the §4.4 ablation;
* ``no_sinc``: ``second_order`` with the three sinc probabilities forced to 0 (blur1, blur2, final);
* ``bicubic``: ESRGAN's classical data, MATLAB ``imresize`` bicubic x1/scale with anti-aliasing
  (:func:`replication.degrade.resize.imresize_matlab`), then 8-bit rounding;
* ``bsrgan``: a BSRGAN-like shuffled model (:mod:`replication.degrade.bsrgan`; departures from
  BSRGAN's own: docs/degradation.md).

By default every variant synthesises the LQ from the USM-sharpened GT, as the reference does for
its released x4plus models, so that variants differ only in the degradation. ``sharpen=False``
synthesises it from the plain GT instead: the reference's Real-ESRNet path with ``gt_usm: False``.

Randomness: ``generator`` is a CPU ``torch.Generator``; per-batch and per-sample parameters are drawn
from it on the CPU, image-sized noise fields from a device generator seeded from it (the generator
itself on the CPU). The same seed gives the same pairs on the same device.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from replication.degrade import draws
from replication.degrade.bsrgan import bsrgan
from replication.degrade.config import DegradationConfig
from replication.degrade.resize import imresize_matlab
from replication.degrade.second_order import first_order, second_order
from replication.degrade.usm import usm_sharp
from replication.errors import UserError
from replication.imageio import quantize_8bit
from replication.names import DEGRADATION_VARIANTS

VARIANTS = DEGRADATION_VARIANTS


@dataclass(frozen=True)
class DegradedBatch:
    """``lq``: (B, 3, H/scale, W/scale), values k/255. ``gt``: (B, 3, H, W), as given (not sharpened).
    ``gt_usm``: (B, 3, H, W) USM-sharpened GT (what the LQ was synthesised from when ``sharpen``).
    ``record``: the random draws of this batch (kernels, resize/noise/JPEG parameters, order)."""

    lq: torch.Tensor
    gt: torch.Tensor
    gt_usm: torch.Tensor
    record: dict


@contextlib.contextmanager
def synthesis_threads(device: torch.device | str) -> Iterator[None]:
    """Run the enclosed synthesis on the CPU with one intra-op thread, then restore the setting.

    Synthesis is hundreds of small tensor operations per batch; with several OpenMP threads each one
    ends at a barrier, and on a machine whose cores are busy with other work the threads wait for one
    another. Measured side by side on the shared 2-core development machine (docs/performance.md):
    one thread ran the paper's batch 2.8x faster than two (0.97 vs 2.70 s). Values do not depend on
    it beyond float rounding. No effect on accelerators or when PyTorch already uses one thread.
    """
    before = torch.get_num_threads()
    if torch.device(device).type != "cpu" or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def without_sinc(cfg: DegradationConfig) -> DegradationConfig:
    """``cfg`` with blur1/blur2/final sinc probabilities set to 0 (the ``no_sinc`` ablation)."""
    return dataclasses.replace(
        cfg,
        blur1=dataclasses.replace(cfg.blur1, sinc_prob=0.0),
        blur2=dataclasses.replace(cfg.blur2, sinc_prob=0.0),
        final_sinc_prob=0.0,
    )


def _smallest_side(rate: float, need: int) -> int:
    """Smallest S with int(S * rate) >= need."""
    side = max(1, math.ceil(need / rate))
    while int(side * rate) < need:
        side += 1
    return side


def _min_gt_size(cfg: DegradationConfig, variant: str, scale: int) -> int:
    """Smallest GT side for which every filtering step of ``variant`` has room for reflect padding
    (a k x k kernel needs more than k // 2 pixels)."""
    sizes = [cfg.usm.kernel_size // 2 + 1]
    if variant == "bicubic":
        return max([*sizes, scale])
    if variant == "bsrgan":
        b = cfg.bsrgan
        blur = max(b.kernel_sizes) // 2 + 1
        # A blur may follow the intermediate down-sampling (by up to down1_factor_per_scale * scale)
        # or the down-sampling to the LR size; the shifted-blur branch filters the full-size image.
        sizes += [_smallest_side(1 / (b.down1_factor_per_scale * scale), blur), scale * blur]
        sizes.append(b.down1_blur_kernel_size // 2 + 1)
        return max(sizes)
    final = max(cfg.final_sinc_sizes) // 2 + 1
    sizes.append(scale * final)  # the final sinc filters the LR-size image
    if variant != "first_order":
        # The stage-2 blur filters the stage-1 output, int(S * s1) px with s1 >= resize1.range[0];
        # stage 2 then resizes to int(S / scale * s2) px, which must not be empty.
        sizes.append(_smallest_side(cfg.resize1.range[0], max(cfg.blur2.kernel_sizes) // 2 + 1))
        sizes.append(scale * _smallest_side(cfg.resize2.range[0], 1))
    return max(sizes)


class Degrader:
    """Synthesise (LQ, GT) pairs from GT crops with the degradation ``variant``.

    ``deg(gt, generator)``: gt (B, 3, S, S) float32 RGB in [0, 1] (S = ``cfg.gt_crop`` in training; any
    S divisible by ``scale`` works) -> :class:`DegradedBatch` on ``device``.
    """

    def __init__(self, cfg: DegradationConfig, variant: str, scale: int, device: torch.device | str = "cpu") -> None:
        if variant not in VARIANTS:
            raise UserError(f"unknown degradation variant {variant!r} (known: {', '.join(VARIANTS)})")
        if scale < 1:
            raise UserError(f"scale must be a positive integer, got {scale}")
        self.cfg = without_sinc(cfg) if variant == "no_sinc" else cfg
        self.variant = variant
        self.scale = scale
        self.device = torch.device(device)
        self.min_gt_size = _min_gt_size(self.cfg, variant, scale)

    def __call__(self, gt: torch.Tensor, generator: torch.Generator, *, sharpen: bool = True) -> DegradedBatch:
        if gt.ndim != 4 or gt.shape[1] != 3:
            raise ValueError(f"expected a GT batch (B, 3, H, W), got shape {tuple(gt.shape)}")
        h, w = gt.shape[-2:]
        if h % self.scale or w % self.scale:
            raise ValueError(f"GT of {h}x{w} px is not divisible by scale {self.scale}")
        if min(h, w) < self.min_gt_size:
            raise ValueError(
                f"GT of {h}x{w} px is too small for the {self.variant} degradation (min {self.min_gt_size})"
            )
        if generator.device.type != "cpu":
            raise ValueError(f"the generator must be a CPU torch.Generator, got one on {generator.device}")
        with synthesis_threads(self.device):
            return self._degrade(gt, generator, sharpen)

    def _degrade(self, gt: torch.Tensor, generator: torch.Generator, sharpen: bool) -> DegradedBatch:
        gt = gt.to(self.device, torch.float32)
        gt_usm = usm_sharp(gt, self.cfg.usm)
        src = gt_usm if sharpen else gt
        fields = draws.field_generator(generator, self.device)
        if self.variant in ("second_order", "no_sinc"):
            lq, record = second_order(src, self.cfg, self.scale, generator, fields)
        elif self.variant == "first_order":
            lq, record = first_order(src, self.cfg, self.scale, generator, fields)
        elif self.variant == "bsrgan":
            lq, record = bsrgan(src, self.cfg.bsrgan, self.scale, generator, fields)
        else:
            lq, record = quantize_8bit(imresize_matlab(src, 1.0 / self.scale)), {}
        return DegradedBatch(lq=lq, gt=gt, gt_usm=gt_usm, record=record)
