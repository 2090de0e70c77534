"""Ringing/overshoot next to strong edges: a full-reference artifact measure for the sinc claim.

The paper's sinc ablation says that without sinc filters in training a model "amplifies the ringing
and overshoot artifacts" of its input near text and lines. Ringing of a low-pass filtered edge
(Gibbs) shows as values beyond the levels the edge joins: an overshoot above the bright side and an
undershoot below the dark side, repeated with decaying ripples. A blur, by contrast, only mixes the
two sides and never leaves their range. The measure therefore counts how far the output leaves the
ground truth's local range, near the ground truth's strong edges (docs/ringing.md has the rationale):

1. ``Y`` of both images (BT.601, [16, 235] scale, like PSNR/SSIM), ``crop_border`` px removed;
2. strong edges: GT pixels whose central-difference gradient magnitude is >= ``EDGE_THRESHOLD``
   levels/px;
3. band: every pixel within ``BAND_RADIUS`` px (Chebyshev distance) of a strong edge;
4. excursion: how far the output lies outside ``[min, max]`` of the GT over a
   ``(2 * TOLERANCE + 1)``-px square around the pixel (the tolerance absorbs small shifts and blurs);
5. contrast: ``max - min`` of the GT over a ``(2 * BAND_RADIUS + 1)``-px square (the edge's height);
6. ``ringing = 100 * sqrt(sum excursion^2 / sum contrast^2)`` over the band: the RMS excursion as a
   percentage of the RMS edge contrast. 0 for an output inside the GT's local range everywhere;
   lower is better. Undefined (NaN) for a GT without strong edges.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.ndimage import binary_dilation, maximum_filter, minimum_filter

from replication.errors import UserError
from replication.evaluate.color import y_channel_01

EDGE_THRESHOLD = 20.0  # levels (of 255) per pixel: a clear edge, above texture and noise
BAND_RADIUS = 8  # HR pixels = 2 LR pixels at x4, where the first overshoot lobes of LR ringing land
TOLERANCE = 4  # HR pixels of slack for the local range (= 1 LR pixel at x4: sub-pixel shifts, mild blur)


def _y255(rgb: torch.Tensor, crop_border: int) -> np.ndarray:
    y = y_channel_01(rgb)[0, 0].cpu().numpy() * 255.0
    return y[crop_border:-crop_border, crop_border:-crop_border] if crop_border else y


def strong_edges(gt_y: np.ndarray, threshold: float = EDGE_THRESHOLD) -> np.ndarray:
    """Boolean map of the GT pixels whose gradient magnitude (central differences) is >= threshold."""
    gy, gx = np.gradient(gt_y)
    return np.hypot(gx, gy) >= threshold


def ringing_maps(
    sr_y: np.ndarray,
    gt_y: np.ndarray,
    band_radius: int = BAND_RADIUS,
    tolerance: int = TOLERANCE,
    threshold: float = EDGE_THRESHOLD,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(band mask, excursion, contrast) maps of two Y images on the [0, 255] scale."""
    band = binary_dilation(strong_edges(gt_y, threshold), structure=np.ones((2 * band_radius + 1,) * 2, dtype=bool))
    tol = 2 * tolerance + 1
    lo, hi = minimum_filter(gt_y, size=tol, mode="nearest"), maximum_filter(gt_y, size=tol, mode="nearest")
    excursion = np.maximum(sr_y - hi, 0.0) + np.maximum(lo - sr_y, 0.0)
    wide = 2 * band_radius + 1
    contrast = maximum_filter(gt_y, size=wide, mode="nearest") - minimum_filter(gt_y, size=wide, mode="nearest")
    return band, excursion, contrast


def ringing_y(sr: torch.Tensor, ref: torch.Tensor, crop_border: int = 0) -> float:
    """Ringing/overshoot in % of the edge contrast (lower is better) of two (1, 3, H, W) RGB images in [0, 1]."""
    if sr.shape != ref.shape:
        raise UserError(f"image sizes differ: output {tuple(sr.shape[-2:])} vs reference {tuple(ref.shape[-2:])}")
    a, b = _y255(sr, crop_border), _y255(ref, crop_border)
    if a.size == 0:
        raise UserError(f"crop_border {crop_border} leaves no pixels of a {tuple(sr.shape[-2:])} image")
    band, excursion, contrast = ringing_maps(a, b)
    if not band.any():
        return math.nan  # no strong edge: nothing to ring
    return 100.0 * math.sqrt(float(np.sum(excursion[band] ** 2)) / float(np.sum(contrast[band] ** 2)))
