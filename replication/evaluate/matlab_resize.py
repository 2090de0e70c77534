"""MATLAB-compatible bicubic ``imresize`` (with MATLAB's antialiasing when shrinking).

Behaviour follows MATLAB's ``imresize(img, scale)`` with the default ``'bicubic'`` method:

* output size ``ceil(in * scale)`` per axis;
* cubic convolution kernel with a = -0.5 (Keys), support [-2, 2];
* when shrinking with antialiasing, the kernel is stretched by ``1/scale`` (``scale * k(scale * x)``),
  so it low-pass filters while it interpolates;
* output pixel ``i`` (1-based) samples input position ``u = i / scale + 0.5 * (1 - 1 / scale)``;
* out-of-range taps are mirrored half-sample symmetrically (index -1 reads pixel 0, ...);
* the tap weights of every output pixel are normalised to sum to one;
* the height axis is resized first, then the width axis (MATLAB's order for equal scales).

Weights and sums are float64 (a sparse matrix per axis); the result has the input's dtype.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from scipy import sparse

_NP_DTYPES = {torch.float32: np.float32, torch.float64: np.float64, None: None}


def cubic_kernel(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``), zero outside [-2, 2]."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    inner = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return inner + outer


def output_length(in_length: int, scale: float) -> int:
    """MATLAB's output size for a scale factor: ``ceil(in_length * scale)``."""
    return math.ceil(in_length * scale)


def resize_taps(in_length: int, out_length: int, scale: float, antialias: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Tap indices (0-based, mirrored into range) and float64 weights, both of shape (out_length, P).

    Zero-weight taps are kept: they add nothing, so there is no need to trim them as MATLAB does.
    """
    if in_length < 1 or out_length < 1:
        raise ValueError(f"resize lengths must be positive, got {in_length} -> {out_length}")
    shrink_aa = scale < 1 and antialias
    width = 4.0 / scale if shrink_aa else 4.0
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = math.ceil(width) + 2
    idx1 = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based input positions
    dist = u[:, None] - idx1
    weights = scale * cubic_kernel(dist * scale) if shrink_aa else cubic_kernel(dist)
    weights = weights / weights.sum(axis=1, keepdims=True)
    # Half-sample symmetric mirroring, valid for any overshoot (also wider than the image).
    period = 2 * in_length
    m = np.mod(idx1.astype(np.int64) - 1, period)
    idx0 = np.where(m < in_length, m, period - 1 - m)
    return idx0, weights


@lru_cache(maxsize=32)
def resize_matrix(in_length: int, out_length: int, scale: float, antialias: bool = True) -> sparse.csr_matrix:
    """The resize along one axis as a sparse (out_length, in_length) float64 matrix.

    Mirrored taps that land on the same input pixel are summed into one entry.
    """
    idx, w = resize_taps(in_length, out_length, scale, antialias)
    rows = np.repeat(np.arange(out_length), idx.shape[1])
    return sparse.csr_matrix((w.ravel(), (rows, idx.ravel())), shape=(out_length, in_length))


def _resize_axis(x: np.ndarray, axis: int, out_length: int, scale: float, antialias: bool) -> np.ndarray:
    """Resize float64 ``x`` along ``axis`` (a sparse-dense product: single-threaded, O(taps) per pixel)."""
    mat = resize_matrix(x.shape[axis], out_length, scale, antialias)
    moved = np.moveaxis(x, axis, 0)
    flat = moved.reshape(moved.shape[0], -1)
    out = np.asarray(mat @ flat).reshape((out_length, *moved.shape[1:]))
    return np.moveaxis(out, 0, axis)


def imresize(
    x: torch.Tensor, scale: float, antialias: bool = True, store_dtype: torch.dtype | None = None
) -> torch.Tensor:
    """MATLAB ``imresize(x, scale, 'bicubic')`` of a (..., H, W) tensor -> (..., ceil(H*s), ceil(W*s)).

    No clamping or rounding: bicubic overshoots slightly outside the input range, as in MATLAB
    (whose uint8 path would then round and saturate; do that at image I/O).

    ``store_dtype``: round the result of each axis pass to this dtype (NIQE's float32 protocol:
    computed in float64, stored in float32 between passes as the float32 reference stores it).
    """
    if not x.is_floating_point():
        raise TypeError(f"imresize expects a floating-point tensor, got {x.dtype}")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    out = imresize_np(x.detach().cpu().numpy(), scale, antialias, _NP_DTYPES.get(store_dtype))
    return torch.from_numpy(out).to(x.device)


def imresize_np(
    img: np.ndarray, scale: float, antialias: bool = True, store_dtype: type[np.floating] | None = None
) -> np.ndarray:
    """:func:`imresize` for a (..., H, W) NumPy array (keeps its dtype unless ``store_dtype`` is set)."""
    if not np.issubdtype(img.dtype, np.floating):
        raise TypeError(f"imresize expects a floating-point array, got {img.dtype}")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    h, w = img.shape[-2], img.shape[-1]
    out = _resize_axis(img.astype(np.float64, copy=False), img.ndim - 2, output_length(h, scale), scale, antialias)
    if store_dtype is not None:
        out = out.astype(store_dtype).astype(np.float64)
    out = _resize_axis(out, img.ndim - 1, output_length(w, scale), scale, antialias)
    return out.astype(store_dtype if store_dtype is not None else img.dtype)
