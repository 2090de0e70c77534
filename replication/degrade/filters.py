"""Image filtering with reflect padding: per-sample 2-D kernels and separable 1-D kernels.

Semantics follow the reference's ``filter2D``: reflect padding by the kernel radius (PyTorch
``reflect``, i.e. the edge pixel is not repeated), then cross-correlation (no kernel flip), output
the size of the input. Kernel sizes must be odd.

:func:`filter2d` computes the correlation through the FFT: for 21x21 kernels on 400 px images it
is about 2x faster on a CPU than a grouped convolution and does not depend on how many taps are
non-zero. :func:`filter2d_direct` is the grouped convolution, kept as the reference that tests
compare against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check(img: torch.Tensor, kernel: torch.Tensor) -> tuple[int, int]:
    if img.ndim != 4:
        raise ValueError(f"expected an image batch (B, C, H, W), got shape {tuple(img.shape)}")
    if kernel.ndim == 2:
        kernel = kernel[None]
    if kernel.ndim != 3 or kernel.shape[-1] != kernel.shape[-2]:
        raise ValueError(f"expected square kernels (k, k) or (B, k, k), got shape {tuple(kernel.shape)}")
    if kernel.shape[0] not in (1, img.shape[0]):
        raise ValueError(f"{kernel.shape[0]} kernels for a batch of {img.shape[0]} images")
    k = kernel.shape[-1]
    if k % 2 == 0:
        raise ValueError(f"kernel size must be odd, got {k}")
    pad = k // 2
    if min(img.shape[-2:]) <= pad:
        raise ValueError(
            f"image of {img.shape[-2]}x{img.shape[-1]} px is too small for reflect padding by {pad} (kernel {k}x{k})"
        )
    return k, pad


def filter2d(img: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Correlate each image with its own kernel (or one shared kernel), reflect-padded.

    img: (B, C, H, W); kernel: (k, k), (1, k, k) or (B, k, k), k odd -> (B, C, H, W).
    """
    _, pad = _check(img, kernel)
    if kernel.ndim == 2:
        kernel = kernel[None]
    h, w = img.shape[-2:]
    padded = F.pad(img, (pad, pad, pad, pad), mode="reflect")
    hp, wp = padded.shape[-2:]
    spectrum = torch.fft.rfft2(padded, s=(hp, wp))
    kernel_spectrum = torch.fft.rfft2(kernel.to(img.dtype), s=(hp, wp))
    # Correlation theorem: corr(p, k) = IFFT(FFT(p) * conj(FFT(k))). Output pixel (i, j) sums
    # padded[i + a, j + b] * k[a, b], which never wraps around for i < H, j < W.
    out = torch.fft.irfft2(spectrum * kernel_spectrum.conj()[:, None], s=(hp, wp))
    return out[..., :h, :w].contiguous()


def filter2d_direct(img: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Same as :func:`filter2d` by grouped convolution (the reference's method): (B, C, H, W)."""
    k, pad = _check(img, kernel)
    if kernel.ndim == 2:
        kernel = kernel[None]
    b, c, h, w = img.shape
    padded = F.pad(img, (pad, pad, pad, pad), mode="reflect")
    if kernel.shape[0] == 1:
        weight = kernel.to(img.dtype).expand(c, k, k)[:, None]
        return F.conv2d(padded.reshape(b, c, h + 2 * pad, w + 2 * pad), weight, groups=c)
    weight = kernel.to(img.dtype)[:, None].expand(b, c, k, k).reshape(b * c, 1, k, k)
    out = F.conv2d(padded.reshape(1, b * c, h + 2 * pad, w + 2 * pad), weight, groups=b * c)
    return out.view(b, c, h, w)


def separable_filter(img: torch.Tensor, kernel_1d: torch.Tensor) -> torch.Tensor:
    """Correlate with the outer product ``kernel_1d x kernel_1d`` as two 1-D passes, reflect-padded.

    Reflect padding is a per-axis index map, so padding and filtering one axis at a time equals
    padding both axes and correlating with the 2-D kernel. img: (B, C, H, W); kernel_1d: (k,), k odd.
    """
    k = kernel_1d.numel()
    _check(img, kernel_1d.new_zeros(k, k))
    pad = k // 2
    b, c, h, w = img.shape
    # Depthwise layout (1, B*C, H, W): on CPU this is >10x faster than a batch of 1-channel images.
    flat = img.reshape(1, b * c, h, w)
    row = kernel_1d.to(img.dtype).view(1, 1, 1, k).expand(b * c, 1, 1, k)
    out = F.conv2d(F.pad(flat, (pad, pad, 0, 0), mode="reflect"), row, groups=b * c)
    out = F.conv2d(F.pad(out, (0, 0, pad, pad), mode="reflect"), row.reshape(b * c, 1, k, 1), groups=b * c)
    return out.view(b, c, h, w)
