"""No-reference measures of the noise and blur a super-resolved image still carries, for the paper's
statement that a model trained with first-order degradation "cannot effectively remove noise or blur"
(docs/residual_measures.md defines them and gives their validation).

Both work on the luma ``Y = 0.299 R + 0.587 G + 0.114 B`` on the [0, 255] scale (so a grey noise of
sd sigma levels in RGB is sd sigma in Y), after removing ``crop_border`` pixels.

* :func:`noise_sigma_y`, in grey levels: the sd of the noise left in the flat regions. A 3 x 3
  second-difference mask (1, -2, 1 outer product) cancels any locally linear signal and multiplies
  i.i.d. noise of sd sigma by 6; in the flattest ``FLAT_FRACTION`` of the pixels (lowest gradient of a
  lightly smoothed copy, so that noise itself does not decide what is flat) the median absolute
  response divided by 6 * 0.6745 (the median of |N(0, 1)|) estimates sigma.
* :func:`edge_width_y`, in pixels: the median width of the strong edges, where the width of one edge
  is its contrast (max - min of Y within ``WINDOW`` pixels across it) over its steepest slope (central
  differences). A perfect step reads 2 px, a step blurred by a Gaussian of sd s about 2.5 s px
  (contrast / peak slope = s * sqrt(2 pi)). Edges are the local maxima of the slope across rows
  (vertical edges) and across columns (horizontal ones) with a contrast of at least ``MIN_CONTRAST``
  levels that are the steepest pixel within ``WINDOW`` pixels across the edge; NaN when an image
  has none.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.ndimage import convolve, gaussian_filter, maximum_filter1d, minimum_filter1d

from replication.errors import UserError

LUMA = (0.299, 0.587, 0.114)
FLAT_FRACTION = 0.3  # share of the pixels treated as flat
FLAT_SMOOTHING = 1.5  # sd (px) of the smoothing before the flatness gradient
MAD_TO_SD = 0.6744897501960817  # median of |N(0, 1)|
WINDOW = 10  # px on each side of an edge pixel over which its contrast is taken
MIN_CONTRAST = 40.0  # grey levels: a strong edge, well above texture and moderate noise
_MASK = np.outer([1.0, -2.0, 1.0], [1.0, -2.0, 1.0])  # sum of squares 36


def luma255(rgb: torch.Tensor, crop_border: int = 0) -> np.ndarray:
    """(H, W) float64 luma on [0, 255] of a (1, 3, H, W) RGB tensor in [0, 1], border removed."""
    if rgb.ndim != 4 or rgb.shape[:2] != (1, 3):
        raise UserError(f"expected a (1, 3, H, W) RGB tensor, got shape {tuple(rgb.shape)}")
    x = rgb[0].detach().to(torch.float64).cpu().numpy()
    y = (LUMA[0] * x[0] + LUMA[1] * x[1] + LUMA[2] * x[2]) * 255.0
    if crop_border:
        if min(y.shape) <= 2 * crop_border:
            raise UserError(f"image {y.shape[1]}x{y.shape[0]} is too small for a {crop_border}-px border crop")
        y = y[crop_border:-crop_border, crop_border:-crop_border]
    return y


def noise_sigma(y: np.ndarray) -> float:
    """Noise sd (grey levels) in the flattest pixels of a [0, 255] luma image; NaN if under 3 x 3."""
    if min(y.shape) < 3:
        return math.nan
    response = np.abs(convolve(y, _MASK, mode="reflect"))[1:-1, 1:-1]
    smooth = gaussian_filter(y, FLAT_SMOOTHING, mode="reflect")
    gy, gx = np.gradient(smooth)
    flatness = np.hypot(gx, gy)[1:-1, 1:-1].ravel()
    k = max(1, int(FLAT_FRACTION * flatness.size))
    flat = np.argpartition(flatness, k - 1)[:k]
    return float(np.median(response.ravel()[flat]) / (6.0 * MAD_TO_SD))


def _edge_widths(y: np.ndarray) -> np.ndarray:
    """Widths of the edges met along axis 1 (vertical edges): contrast / peak slope at each slope peak."""
    slope = np.abs(np.gradient(y, axis=1))
    size = 2 * WINDOW + 1
    # The steepest pixel within the whole window: one measurement per edge (not its flanks, not a
    # noise spike beside it, not a gentle ramp next to a far edge).
    peak = (slope == maximum_filter1d(slope, size, axis=1, mode="nearest")) & (slope > 0)
    contrast = maximum_filter1d(y, size, axis=1, mode="nearest") - minimum_filter1d(y, size, axis=1, mode="nearest")
    edge = peak & (contrast >= MIN_CONTRAST)
    edge[:, :WINDOW] = edge[:, -WINDOW:] = False  # the window must fit inside the image
    return contrast[edge] / slope[edge]


def edge_width(y: np.ndarray) -> float:
    """Median width (px) of the strong edges of a [0, 255] luma image, both orientations; NaN if none."""
    widths = np.concatenate([_edge_widths(y), _edge_widths(y.T)])
    return float(np.median(widths)) if widths.size else math.nan


def noise_sigma_y(sr: torch.Tensor, crop_border: int = 0) -> float:
    return noise_sigma(luma255(sr, crop_border))


def edge_width_y(sr: torch.Tensor, crop_border: int = 0) -> float:
    return edge_width(luma255(sr, crop_border))
