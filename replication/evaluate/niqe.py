"""NIQE (Mittal, Soundararajan, Bovik 2013), the paper's metric, implemented here and vectorised.

Protocol (the Real-ESRGAN authors' toolbox, BasicSR ``calculate_niqe(..., convert_to='y')``, which
matches the LIVE MATLAB release):

1. Y channel of BT.601 YCbCr in [16, 235] (:mod:`replication.evaluate.color`), optional border crop
   (none by default), rounded to integers.
2. Crop to a multiple of 96 x 96 (the block size of the pristine model).
3. Two scales: the image, then MATLAB ``imresize(img / 255, 0.5)`` (bicubic, antialiased) x 255.
   At each scale: local mean and deviation with a 7 x 7 Gaussian window (sigma 7/6, edge
   replication), MSCN coefficients ``(x - mu) / (sigma + 1)``, then per block (96 / scale pixels)
   18 features: an asymmetric generalised Gaussian (AGGD) fit of the coefficients and of their
   products with the four neighbours (right, down, down-right, down-left, wrapped inside the block).
4. A multivariate Gaussian fitted to the block features (NaN-aware mean; covariance of the
   NaN-free rows) is compared with the pristine model:
   ``sqrt((mu_p - mu_d)^T pinv((S_p + S_d) / 2) (mu_p - mu_d))``.

Numerics: BasicSR, whose numbers the paper reports, works in float32 in the MSCN step, where
``E[x^2] - E[x]^2`` loses precision on flat areas. To agree with it, the local moments are computed
exactly (float64) and then rounded to float32 at the same points BasicSR rounds them
(``precision='float32'``, the default). The reference's own float32 resize sums depend on the BLAS
library (~1e-3 in NIQE), so agreement is close but not bitwise. ``precision='float64'`` keeps
everything in float64; it differs from the paper protocol by up to ~0.2 on images with flat areas,
where the MSCN coefficients of a flat block are pure rounding noise and every implementation
(MATLAB included) gives its own value.

Vectorisation: all blocks of a scale are cut out at once as an (n_blocks, b, b) array; the AGGD
shape parameter is found for every block at once by a binary search in the monotonic table of
r(gamma) = Gamma(2/g)^2 / (Gamma(1/g) Gamma(3/g)) over the grid g = 0.2, 0.201, ..., 10 (the same
grid and the same nearest-value rule as the reference's exhaustive argmin).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from scipy.ndimage import correlate1d
from scipy.special import gamma as gamma_fn

from replication.errors import UserError
from replication.evaluate.color import y_channel_255
from replication.evaluate.matlab_resize import imresize_np

BLOCK = 96  # block size of the pristine model (LIVE release default)
WINDOW_SIZE = 7
WINDOW_SIGMA = 7.0 / 6.0
PARAMS_FILE = "niqe_pris_params.npz"  # in <mirror>/metrics/; same numbers as LIVE modelparameters.mat
PARAMS_FILE_MAT = "niqe_modelparameters.mat"  # the official LIVE file (keys mu_prisparam, cov_prisparam)
# The same LIVE numbers shipped with the package (7 kB; licence note beside it), so NIQE works
# after `pip install` with no mirror. A file in the mirror or a --weights-dir still takes precedence.
PACKAGED_PARAMS = Path(__file__).resolve().parent / "data" / "niqe_live_params.npz"

Precision = Literal["float32", "float64"]


class NiqeInputError(UserError):
    """The image is too small for NIQE (needs at least two 96 x 96 blocks)."""


@dataclass(frozen=True)
class PristineModel:
    """The MVG of the pristine corpus: ``mu`` (36,), ``cov`` (36, 36), float64."""

    mu: np.ndarray
    cov: np.ndarray
    source: str

    def __post_init__(self) -> None:
        if self.mu.shape != (36,) or self.cov.shape != (36, 36):
            raise UserError(
                f"{self.source}: NIQE pristine parameters must be mu (36,) and cov (36, 36), "
                f"got {self.mu.shape} and {self.cov.shape}"
            )


def load_pristine_model(path: str | os.PathLike) -> PristineModel:
    """Read the pristine MVG from BasicSR's ``.npz`` (``mu_pris_param``, ``cov_pris_param``) or the
    LIVE ``.mat`` (``mu_prisparam``, ``cov_prisparam``)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: NIQE pristine parameter file not found")
    try:
        if path.suffix == ".npz":
            with np.load(path) as data:
                if "mu_prisparam" in data:  # the LIVE variable names (the packaged file)
                    mu, cov = data["mu_prisparam"], data["cov_prisparam"]
                else:
                    mu, cov = data["mu_pris_param"], data["cov_pris_param"]
        elif path.suffix == ".mat":
            from scipy.io import loadmat

            data = loadmat(path)
            mu, cov = data["mu_prisparam"], data["cov_prisparam"]
        else:
            raise UserError(f"{path}: expected a .npz or .mat NIQE parameter file")
    except KeyError as exc:
        raise UserError(f"{path}: missing NIQE parameter {exc}") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read NIQE parameters ({exc})") from None
    return PristineModel(
        mu=np.asarray(mu, dtype=np.float64).ravel(), cov=np.asarray(cov, dtype=np.float64), source=str(path)
    )


def find_pristine_model(mirror: str | os.PathLike | None) -> Path:
    """``<mirror>/metrics/niqe_pris_params.npz`` (or the LIVE ``.mat`` beside it)."""
    if mirror is None:
        raise UserError(
            "NIQE needs the pristine parameters (metrics/niqe_pris_params.npz in the offline mirror): "
            "set `mirror:` in params.yaml or REPLICATION_MIRROR"
        )
    folder = Path(mirror) / "metrics"
    for name in (PARAMS_FILE, PARAMS_FILE_MAT):
        if (folder / name).is_file():
            return folder / name
    raise UserError(f"{folder}: neither {PARAMS_FILE} nor {PARAMS_FILE_MAT} found (NIQE pristine parameters)")


def gaussian_taps() -> np.ndarray:
    """The 1-D factor of MATLAB's ``fspecial('gaussian', 7, 7/6)`` (normalised; the 2-D window is
    its outer product, which is how the separable filtering below uses it)."""
    x = np.arange(WINDOW_SIZE, dtype=np.float64) - (WINDOW_SIZE - 1) / 2
    g = np.exp(-(x * x) / (2 * WINDOW_SIGMA**2))
    return g / g.sum()


@lru_cache(maxsize=1)
def _gamma_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shape grid, r(gamma) table and the two Gamma ratios needed per grid value."""
    # 0.2:0.001:10 as in the reference; np.arange's accumulated values are what it compares against.
    grid = np.arange(0.2, 10.001, 0.001)
    inv = 1.0 / grid
    r = gamma_fn(2 * inv) ** 2 / (gamma_fn(inv) * gamma_fn(3 * inv))
    if not np.all(np.diff(r) > 0):  # the binary search below relies on it
        raise AssertionError("r(gamma) table is not strictly increasing")
    beta_factor = np.sqrt(gamma_fn(inv) / gamma_fn(3 * inv))
    mean_factor = gamma_fn(2 * inv) / gamma_fn(inv)
    return grid, r, beta_factor, mean_factor


def aggd_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Moment-matching AGGD fit of every row of ``x`` (n, m).

    Returns ``alpha`` (shape), ``beta_l``, ``beta_r`` (left/right scales) and the AGGD mean
    ``(beta_r - beta_l) * Gamma(2/alpha) / Gamma(1/alpha)``, each of shape (n,). A row without
    negative or without positive values gives NaN scales (its shape is then the grid's first
    value, 0.2, as with the reference's argmin over NaN).
    """
    grid, r_table, beta_factor, mean_factor = _gamma_grid()
    x64 = x.astype(np.float64, copy=False)
    sq = x64 * x64
    neg = x64 < 0
    pos = x64 > 0
    m = x.shape[1]
    sum_sq = sq.sum(axis=1)
    sum_sq_neg = np.where(neg, sq, 0.0).sum(axis=1)
    n_neg = neg.sum(axis=1)
    n_pos = pos.sum(axis=1)
    sum_abs = np.abs(x64).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        left_std = np.sqrt(sum_sq_neg / n_neg)
        right_std = np.sqrt((sum_sq - sum_sq_neg) / n_pos)
        gammahat = left_std / right_std
        rhat = (sum_abs / m) ** 2 / (sum_sq / m)
        rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
    valid = np.isfinite(rhatnorm)
    target = np.where(valid, rhatnorm, 0.0)
    # Nearest table entry in squared distance, first index on ties (= argmin of the full scan).
    hi = np.clip(np.searchsorted(r_table, target, side="left"), 1, len(r_table) - 1)
    lo = hi - 1
    d_lo = (r_table[lo] - target) ** 2
    d_hi = (r_table[hi] - target) ** 2
    idx = np.where(d_lo <= d_hi, lo, hi)
    idx = np.where(valid, idx, 0)
    alpha = grid[idx]
    beta_l = left_std * beta_factor[idx]
    beta_r = right_std * beta_factor[idx]
    mean = (beta_r - beta_l) * mean_factor[idx]
    return alpha, beta_l, beta_r, mean


# (row, column) shifts of the pairwise products: right, down, down-right, down-left neighbours.
PAIR_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


def block_features(mscn: np.ndarray, block: int) -> np.ndarray:
    """18 NIQE features per non-overlapping ``block`` x ``block`` tile of an (H, W) MSCN map.

    H and W must be multiples of ``block``. Returns (n_blocks, 18): [alpha, (beta_l + beta_r) / 2]
    for the coefficients, then [alpha, mean, beta_l, beta_r] for each of the four products.
    """
    h, w = mscn.shape
    nh, nw = h // block, w // block
    tiles = mscn.reshape(nh, block, nw, block).transpose(0, 2, 1, 3).reshape(nh * nw, block, block)
    feats = []
    alpha, beta_l, beta_r, _ = aggd_fit(tiles.reshape(nh * nw, -1))
    feats += [alpha, (beta_l + beta_r) / 2]
    for shift in PAIR_SHIFTS:
        # Products are formed in the map's dtype (float32 under the paper protocol), like the reference.
        prod = tiles * np.roll(tiles, shift, axis=(1, 2))
        alpha, beta_l, beta_r, mean = aggd_fit(prod.reshape(nh * nw, -1))
        feats += [alpha, mean, beta_l, beta_r]
    return np.stack(feats, axis=1)


def mscn(img: np.ndarray, precision: Precision = "float32") -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients of an (H, W) image in [0, 255].

    Local moments with the 7 x 7 Gaussian window and replicated edges. Under ``float32`` every
    intermediate is rounded to float32 where the reference rounds it (its filters compute in double
    and store float32).
    """
    taps = gaussian_taps()
    dt = np.float32 if precision == "float32" else np.float64

    def smooth(a: np.ndarray) -> np.ndarray:
        a = a.astype(np.float64, copy=False)
        return correlate1d(correlate1d(a, taps, axis=0, mode="nearest"), taps, axis=1, mode="nearest")

    x: np.ndarray = img.astype(dt, copy=False)
    mu: np.ndarray = smooth(x).astype(dt, copy=False)
    ex2: np.ndarray = smooth(np.square(x)).astype(dt, copy=False)
    sigma = np.sqrt(np.abs(ex2 - np.square(mu)))
    return (x - mu) / (sigma + dt(1))


def niqe_features(y: np.ndarray, precision: Precision = "float32") -> np.ndarray:
    """Block features of both scales of a rounded Y image (H, W) in [0, 255]: (n_blocks, 36)."""
    h, w = y.shape
    nh, nw = h // BLOCK, w // BLOCK
    if nh * nw < 2:
        raise NiqeInputError(
            f"image of {h}x{w} px has {nh * nw} NIQE block(s) of {BLOCK}x{BLOCK}; at least 2 are needed "
            f"(e.g. 192x96 px) to fit a covariance"
        )
    img = y[: nh * BLOCK, : nw * BLOCK]
    dt = np.float32 if precision == "float32" else np.float64
    img = img.astype(dt, copy=False)
    per_scale = []
    for scale in (1, 2):
        per_scale.append(block_features(mscn(img, precision), BLOCK // scale))
        if scale == 1:
            # MATLAB imresize of img / 255, then x 255. Computed in float64; under the float32
            # protocol the input, each resize pass and the product are stored as float32, as the
            # reference stores them (its float32 sums themselves depend on the BLAS: ~1e-3 in NIQE).
            if precision == "float32":
                small = imresize_np(img / np.float32(255.0), 0.5, True, np.float32)
                img = small * np.float32(255.0)
            else:
                img = imresize_np(img / 255.0, 0.5, antialias=True) * 255.0
    return np.concatenate(per_scale, axis=1)


def niqe_distance(features: np.ndarray, model: PristineModel) -> float:
    """Mahalanobis-like distance between the features' MVG and the pristine MVG."""
    mu_d = np.nanmean(features, axis=0)
    rows = features[~np.isnan(features).any(axis=1)]
    if rows.shape[0] < 2:
        return float("nan")
    cov_d = np.cov(rows, rowvar=False)
    diff = model.mu - mu_d
    q = diff @ np.linalg.pinv((model.cov + cov_d) / 2) @ diff
    return float(np.sqrt(q))


def niqe_y(y: np.ndarray, model: PristineModel, precision: Precision = "float32") -> float:
    """NIQE of an (H, W) luma image in [0, 255] that is already rounded and cropped."""
    return niqe_distance(niqe_features(y, precision), model)


def niqe(rgb: torch.Tensor, model: PristineModel, crop_border: int = 0, precision: Precision = "float32") -> float:
    """NIQE (lower is better) of a (1, 3, H, W) float RGB image in [0, 1], paper protocol."""
    y = y_channel_255(rgb)
    if crop_border:
        y = y[crop_border:-crop_border, crop_border:-crop_border]
    return niqe_y(np.round(y), model, precision)
