"""Real-ESRGAN's high-order degradation (``second_order``) and its first-order ablation.

Both start from the USM-sharpened GT (docs/reference-notes.md §1) and return an 8-bit
quantised LQ of size (H/scale, W/scale). Which draws are shared by the batch and which are per
sample follows the reference exactly (table in docs/degradation.md):

second order (the paper; §1.3)::

    blur(k1)                         kernel per sample
    resize (up/down/keep, mode)      batch; output floor(H * s)
    noise (Gaussian | Poisson)       family per batch; sigma/scale and gray flag per sample
    JPEG q ~ U(jpeg1)                per sample
    blur(k2) with p second_blur_prob switch per batch; kernel per sample
    resize to (H/scale * s2)         batch; relative to the LR size
    noise                            as above
    final step, order per batch:
      A: resize to LR (random mode) -> sinc or identity (per sample) -> JPEG q ~ U(jpeg2)
      B: JPEG -> resize to LR -> sinc
    round to 8 bit                   the only quantisation

first order (the paper's "classical" model for the §4.4 ablation; our reading, see
docs/degradation.md): blur(k1) -> stage-1 random resize -> noise1 -> JPEG(jpeg1) -> resize to the LR
size (random mode from ``final_resize_modes``) -> final sinc with ``first_order.final_sinc_prob``
(sizes / cut-off ``final_sinc_*``) -> round to 8 bit.
"""

from __future__ import annotations

import torch

from replication.degrade import draws
from replication.degrade.config import DegradationConfig
from replication.degrade.filters import filter2d
from replication.degrade.jpeg import diff_jpeg
from replication.degrade.kernels import (
    PULSE,
    KernelBatch,
    sample_blur_kernels,
    sample_final_sinc,
)
from replication.degrade.noise import add_noise, sample_noise
from replication.degrade.resize import interpolate, sample_resize
from replication.imageio import quantize_8bit


def apply_kernels(img: torch.Tensor, kernels: KernelBatch) -> torch.Tensor:
    """Filter each image with its kernel; identity (PULSE) samples are passed through exactly.

    img: (B, C, H, W); kernels.kernels: (B, P, P).
    """
    identity = kernels.kind == PULSE  # on the CPU: no device synchronisation for these tests
    if bool(identity.all()):
        return img
    filtered = filter2d(img, kernels.kernels.to(img.device, img.dtype))
    if not bool(identity.any()):
        return filtered
    return torch.where(identity.to(img.device).view(-1, 1, 1, 1), img, filtered)


def jpeg_random_quality(
    img: torch.Tensor, quality_range: tuple[float, float], generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clamp to [0, 1] and JPEG each image at q ~ U(quality_range): -> ((B, C, H, W), q (B,))."""
    quality = draws.uniform(*quality_range, img.shape[0], generator)
    return diff_jpeg(img.clamp(0, 1), quality), quality


def kernel_pad_size(cfg: DegradationConfig) -> int:
    """Common size of all per-sample kernels (21 in the reference)."""
    return max(max(cfg.blur1.kernel_sizes), max(cfg.blur2.kernel_sizes), max(cfg.final_sinc_sizes))


def second_order(
    gt_usm: torch.Tensor,
    cfg: DegradationConfig,
    scale: int,
    generator: torch.Generator,
    field_generator: torch.Generator,
) -> tuple[torch.Tensor, dict]:
    """(B, 3, H, W) sharpened GT -> ((B, 3, H/scale, W/scale) 8-bit LQ, record of the draws)."""
    b, _, h, w = gt_usm.shape
    lr_size = (h // scale, w // scale)
    pad_to = kernel_pad_size(cfg)
    # Per-sample kernels (the reference draws them in the data loader).
    kernel1 = sample_blur_kernels(cfg.blur1, b, generator, pad_to)
    kernel2 = sample_blur_kernels(cfg.blur2, b, generator, pad_to)
    final_sinc = sample_final_sinc(
        cfg.final_sinc_prob, cfg.final_sinc_sizes, cfg.final_sinc_cutoff, b, generator, pad_to
    )
    record: dict = {"kernel1": kernel1, "kernel2": kernel2, "final_sinc": final_sinc}

    # Stage 1.
    out = apply_kernels(gt_usm, kernel1)
    resize1 = sample_resize(cfg.resize1, generator)
    out = interpolate(out, resize1.mode, scale_factor=resize1.factor)
    noise1 = sample_noise(cfg.noise1, b, generator)
    out = add_noise(out, cfg.noise1, noise1, field_generator)
    out, q1 = jpeg_random_quality(out, cfg.jpeg1, generator)
    record.update(resize1=resize1, noise1=noise1, jpeg1=q1)

    # Stage 2.
    second_blur = draws.coin(cfg.second_blur_prob, generator)
    if second_blur:
        out = apply_kernels(out, kernel2)
    resize2 = sample_resize(cfg.resize2, generator)
    size2 = (int(h / scale * resize2.factor), int(w / scale * resize2.factor))
    out = interpolate(out, resize2.mode, size=size2)
    noise2 = sample_noise(cfg.noise2, b, generator)
    out = add_noise(out, cfg.noise2, noise2, field_generator)
    record.update(second_blur=second_blur, resize2=resize2, noise2=noise2)

    # Final step: [resize to LR + sinc] and JPEG in random order.
    resize_first = draws.coin(cfg.final_resize_first_prob, generator)
    final_mode = draws.choice(cfg.final_resize_modes, generator)
    if resize_first:
        out = apply_kernels(interpolate(out, final_mode, size=lr_size), final_sinc)
        out, q2 = jpeg_random_quality(out, cfg.jpeg2, generator)
    else:
        out, q2 = jpeg_random_quality(out, cfg.jpeg2, generator)
        out = apply_kernels(interpolate(out, final_mode, size=lr_size), final_sinc)
    record.update(final_order="resize_first" if resize_first else "jpeg_first", final_mode=final_mode, jpeg2=q2)
    return quantize_8bit(out), record


def first_order(
    gt_usm: torch.Tensor,
    cfg: DegradationConfig,
    scale: int,
    generator: torch.Generator,
    field_generator: torch.Generator,
) -> tuple[torch.Tensor, dict]:
    """Classical one-pass degradation: (B, 3, H, W) -> ((B, 3, H/scale, W/scale) 8-bit LQ, record)."""
    b, _, h, w = gt_usm.shape
    lr_size = (h // scale, w // scale)
    pad_to = kernel_pad_size(cfg)
    kernel1 = sample_blur_kernels(cfg.blur1, b, generator, pad_to)
    final_sinc = sample_final_sinc(
        cfg.first_order.final_sinc_prob, cfg.final_sinc_sizes, cfg.final_sinc_cutoff, b, generator, pad_to
    )
    out = apply_kernels(gt_usm, kernel1)
    resize1 = sample_resize(cfg.resize1, generator)
    out = interpolate(out, resize1.mode, scale_factor=resize1.factor)
    noise1 = sample_noise(cfg.noise1, b, generator)
    out = add_noise(out, cfg.noise1, noise1, field_generator)
    out, q1 = jpeg_random_quality(out, cfg.jpeg1, generator)
    final_mode = draws.choice(cfg.final_resize_modes, generator)
    out = apply_kernels(interpolate(out, final_mode, size=lr_size), final_sinc)
    record = {
        "kernel1": kernel1,
        "final_sinc": final_sinc,
        "resize1": resize1,
        "noise1": noise1,
        "jpeg1": q1,
        "final_mode": final_mode,
    }
    return quantize_8bit(out), record
