"""The Bicubic baseline: MATLAB ``imresize(lr, scale)`` (bicubic, a = -0.5), like the paper's column.

The paper's Table 1 "Bicubic" column comes from the authors' MATLAB/BasicSR toolchain, whose
bicubic is MATLAB's ``imresize``; PyTorch's ``interpolate(mode='bicubic')`` uses a = -0.75 and
different border handling, so it is not used here. The output is exactly ``scale`` times the input
size and is clamped to [0, 1] (MATLAB's uint8 output saturates the same overshoot).
"""

from __future__ import annotations

import torch

from replication.evaluate.matlab_resize import imresize


def bicubic_upscale(image: torch.Tensor, scale: int) -> torch.Tensor:
    """(N, C, H, W) float in [0, 1] -> (N, C, scale*H, scale*W), MATLAB bicubic, clamped to [0, 1].

    Works for RGB (C = 3) and alpha (C = 1) planes alike.
    """
    if scale < 1 or int(scale) != scale:
        raise ValueError(f"bicubic baseline: scale must be a positive integer, got {scale}")
    if image.ndim != 4:
        raise ValueError(f"bicubic baseline: expected (N, C, H, W), got {tuple(image.shape)}")
    out = imresize(image.to(torch.float32), float(scale), antialias=True)
    return out.clamp_(0.0, 1.0)
