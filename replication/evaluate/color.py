"""Luma for the metrics: the Y channel of ITU-R BT.601 YCbCr ("studio swing", 16-235).

``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` for R, G, B in [0, 1], i.e. MATLAB's ``rgb2ycbcr``.
This is what BasicSR's metrics call ``convert_to='y'`` / ``test_y_channel=True`` and what the
Real-ESRGAN authors' toolbox uses for NIQE, PSNR and SSIM.

:func:`y_channel_255` also reproduces BasicSR's floating-point path step by step (float32 input,
float64 dot product, division by 255 and a cast to float32, multiplication by 255 in float32),
because NIQE rounds Y to integers afterwards and a different order of operations would move
values that sit on a .5 boundary.
"""

from __future__ import annotations

import numpy as np
import torch

# Weights applied to R, G, B in [0, 1]; result in [16, 235].
Y_WEIGHTS_RGB = (65.481, 128.553, 24.966)
Y_OFFSET = 16.0


def y_channel_255(rgb: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) float RGB in [0, 1] -> float32 (H, W) Y in [16, 235], not rounded."""
    if rgb.ndim == 4:
        if rgb.shape[0] != 1:
            raise ValueError(f"expected a single image, got a batch of {rgb.shape[0]}")
        rgb = rgb[0]
    if rgb.ndim != 3 or rgb.shape[0] != 3:
        raise ValueError(f"expected an RGB image of shape (3, H, W), got {tuple(rgb.shape)}")
    x = rgb.detach().to(torch.float32).cpu().numpy()
    # Same accumulation order as BasicSR's np.dot over B, G, R (float32 inputs promote to float64).
    y64 = x[2].astype(np.float64) * Y_WEIGHTS_RGB[2] + x[1].astype(np.float64) * Y_WEIGHTS_RGB[1]
    y64 = y64 + x[0].astype(np.float64) * Y_WEIGHTS_RGB[0] + Y_OFFSET
    y01 = (y64 / 255.0).astype(np.float32)
    return y01 * np.float32(255.0)


def y_channel_01(rgb: torch.Tensor) -> torch.Tensor:
    """Differentiable-free tensor version: (N, 3, H, W) RGB in [0, 1] -> (N, 1, H, W) Y in [16/255, 235/255].

    Computed in float64 (for PSNR/SSIM, which do not round).
    """
    if rgb.ndim != 4 or rgb.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) RGB, got {tuple(rgb.shape)}")
    w = torch.tensor(Y_WEIGHTS_RGB, dtype=torch.float64, device=rgb.device).view(1, 3, 1, 1)
    return ((rgb.to(torch.float64) * w).sum(dim=1, keepdim=True) + Y_OFFSET) / 255.0
