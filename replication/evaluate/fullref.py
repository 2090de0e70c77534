"""Full-reference metrics on the BT.601 Y channel: PSNR and SSIM (BasicSR's test convention).

Convention: both images are converted to Y in [16, 235] (not rounded), ``crop_border`` pixels are
removed from every side (the scale factor in BasicSR's test configs; ``evaluate.fr_crop_border``),
then

* PSNR = 10 log10(255^2 / MSE) (infinite for identical images);
* SSIM (Wang et al. 2004): 11 x 11 Gaussian window with sigma 1.5, statistics on the 'valid' region
  only (5 px lost at each border), C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, mean of the SSIM map.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.ndimage import correlate1d

from replication.errors import UserError
from replication.evaluate.color import y_channel_01

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


def _y255(rgb: torch.Tensor, crop_border: int) -> np.ndarray:
    """(1, 3, H, W) RGB in [0, 1] -> float64 (H', W') Y in [16, 235] with the border cropped."""
    y = y_channel_01(rgb)[0, 0].cpu().numpy() * 255.0
    if crop_border:
        y = y[crop_border:-crop_border, crop_border:-crop_border]
    return y


def _pair(sr: torch.Tensor, ref: torch.Tensor, crop_border: int) -> tuple[np.ndarray, np.ndarray]:
    if sr.shape != ref.shape:
        raise UserError(f"image sizes differ: output {tuple(sr.shape[-2:])} vs reference {tuple(ref.shape[-2:])}")
    a, b = _y255(sr, crop_border), _y255(ref, crop_border)
    if a.size == 0:
        raise UserError(f"crop_border {crop_border} leaves no pixels of a {tuple(sr.shape[-2:])} image")
    return a, b


def psnr_y(sr: torch.Tensor, ref: torch.Tensor, crop_border: int = 0) -> float:
    """PSNR in dB (higher is better) of two (1, 3, H, W) RGB images in [0, 1], on Y."""
    a, b = _pair(sr, ref, crop_border)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def _gaussian_1d() -> np.ndarray:
    x = np.arange(SSIM_WINDOW, dtype=np.float64) - (SSIM_WINDOW - 1) / 2
    g = np.exp(-(x * x) / (2 * SSIM_SIGMA**2))
    return g / g.sum()


def _filter_valid(img: np.ndarray) -> np.ndarray:
    """Separable Gaussian filtering, keeping only outputs whose window lies inside the image."""
    g = _gaussian_1d()
    r = SSIM_WINDOW // 2
    out = correlate1d(correlate1d(img, g, axis=0, mode="constant"), g, axis=1, mode="constant")
    return out[r:-r, r:-r]


def ssim_y(sr: torch.Tensor, ref: torch.Tensor, crop_border: int = 0) -> float:
    """SSIM in [-1, 1] (higher is better) of two (1, 3, H, W) RGB images in [0, 1], on Y."""
    a, b = _pair(sr, ref, crop_border)
    if min(a.shape) < SSIM_WINDOW:
        raise UserError(f"SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} px after cropping, got {a.shape}")
    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    mu_a, mu_b = _filter_valid(a), _filter_valid(b)
    var_a = _filter_valid(a * a) - mu_a**2
    var_b = _filter_valid(b * b) - mu_b**2
    cov = _filter_valid(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())
