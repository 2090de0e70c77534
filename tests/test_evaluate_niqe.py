"""NIQE (paper protocol) against the MATLAB reference and BasicSR's published values."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers import require_mirror
from scipy.special import gamma as gamma_fn

from replication.evaluate.color import y_channel_255
from replication.evaluate.niqe import (
    NiqeInputError,
    aggd_fit,
    gaussian_taps,
    load_pristine_model,
    niqe,
    niqe_y,
)
from replication.imageio import image_from_array, read_image

ROOT = Path(__file__).resolve().parents[1]

# MATLAB R2021a niqe_release on baboon.png, as BasicSR's NIQE docstring reports it.
MATLAB_BABOON = 5.72957338
# BasicSR calculate_niqe(convert_to='y', crop_border=0) on the same uint8 pixels (metrics.md §3),
# images of at least 192 px (the 4-decimal published values; tolerance 0.005 as specified).
BASICSR_VALUES = {
    "set14/HR/comic.png": 4.1388,
    "realesrgan-inputs/00003.png": 4.0326,
    "realesrgan-inputs/00017_gray.png": 4.9525,
    "realesrgan-inputs/0030.jpg": 4.5577,
    "realesrgan-inputs/ADE_val_00000114.jpg": 4.4292,
    "realesrgan-inputs/OST_009.png": 5.5921,
    "realesrgan-inputs/children-alpha.png": 2.8218,
    "realesrgan-inputs/tree_alpha_16bit.png": 4.9341,
    "realesrgan-inputs/wolf_gray.jpg": 3.2860,
}


@pytest.fixture(scope="module")
def mirror() -> Path:
    return require_mirror("metrics/niqe_pris_params.npz")


@pytest.fixture(scope="module")
def model(mirror):
    return load_pristine_model(mirror / "metrics" / "niqe_pris_params.npz")


def _uint8_rgb(path: Path) -> torch.Tensor:
    """The uint8 RGB pixels the reference values were computed on (OpenCV's default decode:
    alpha dropped, gray replicated, 16-bit reduced to its high byte)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    return image_from_array(bgr).rgb


def test_baboon_matches_matlab(mirror, model):
    value = niqe(read_image(mirror / "datasets/set14/HR/baboon.png").rgb, model)
    assert value == pytest.approx(MATLAB_BABOON, abs=1e-4)


@pytest.mark.parametrize("rel", sorted(BASICSR_VALUES))
def test_matches_basicsr_published_values(mirror, model, rel):
    path = mirror / "datasets" / rel
    if not path.is_file():
        pytest.skip(f"{rel} not in the mirror")
    assert niqe(_uint8_rgb(path), model) == pytest.approx(BASICSR_VALUES[rel], abs=0.005)


def test_mat_and_npz_parameters_agree(mirror, model):
    mat = mirror / "metrics" / "niqe_modelparameters.mat"
    if not mat.is_file():
        pytest.skip("LIVE .mat not in the mirror")
    other = load_pristine_model(mat)
    np.testing.assert_array_equal(other.mu, model.mu)
    np.testing.assert_array_equal(other.cov, model.cov)


def test_gaussian_window_is_the_official_one(mirror):
    with np.load(mirror / "metrics" / "niqe_pris_params.npz") as data:
        window = data["gaussian_window"]
    g = gaussian_taps()
    np.testing.assert_allclose(np.outer(g, g), window, rtol=0, atol=1e-15)


def _aggd_bruteforce(x: np.ndarray) -> tuple[float, float, float]:
    """Exhaustive search over the same grid, written out plainly (one row)."""
    grid = np.arange(0.2, 10.001, 0.001)
    r = gamma_fn(2 / grid) ** 2 / (gamma_fn(1 / grid) * gamma_fn(3 / grid))
    with np.errstate(invalid="ignore", divide="ignore"):
        left = np.sqrt(np.mean(x[x < 0] ** 2)) if (x < 0).any() else np.nan
        right = np.sqrt(np.mean(x[x > 0] ** 2)) if (x > 0).any() else np.nan
        g = left / right
        rhat = np.mean(np.abs(x)) ** 2 / np.mean(x**2)
        rn = rhat * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    alpha = grid[np.argmin((r - rn) ** 2)]
    factor = np.sqrt(gamma_fn(1 / alpha) / gamma_fn(3 / alpha))
    return alpha, left * factor, right * factor


def test_vectorised_aggd_equals_exhaustive_search():
    rng = np.random.default_rng(0)
    rows = [
        rng.standard_normal(500),
        rng.laplace(size=500) * np.where(rng.random(500) < 0.5, 0.3, 2.0),
        rng.standard_normal(500) ** 3,
        np.abs(rng.standard_normal(500)),  # no negative values: NaN scales, alpha = 0.2
        rng.uniform(-1, 1, 500),
    ]
    x = np.stack(rows)
    alpha, beta_l, beta_r, _ = aggd_fit(x)
    for i, row in enumerate(rows):
        a, bl, br = _aggd_bruteforce(row)
        assert alpha[i] == a
        np.testing.assert_allclose([beta_l[i], beta_r[i]], [bl, br], rtol=1e-12, equal_nan=True)


def test_too_small_image_is_a_clear_error(model):
    with pytest.raises(NiqeInputError, match="1 NIQE block"):
        niqe_y(np.full((150, 150), 100.0), model)


def test_y_channel_is_bt601_studio_swing():
    rgb = torch.tensor([0.0, 1.0, 0.5, 0.2]).view(1, 1, 2, 2).expand(1, 3, 2, 2).clone()
    rgb[0, 1] = 0.0  # G = 0
    y = y_channel_255(rgb)
    expected = 16 + 65.481 * rgb[0, 0].numpy() + 24.966 * rgb[0, 2].numpy()
    np.testing.assert_allclose(y, expected, atol=1e-4)
    assert y_channel_255(torch.zeros(1, 3, 2, 2)).min() == pytest.approx(16.0)
    assert y_channel_255(torch.ones(1, 3, 2, 2)).max() == pytest.approx(235.0, abs=1e-4)


def test_border_crop_and_precision_options(mirror, model):
    rgb = read_image(mirror / "datasets/set14/HR/baboon.png").rgb
    cropped = niqe(rgb, model, crop_border=4)
    assert np.isfinite(cropped) and cropped != niqe(rgb, model)
    assert niqe(rgb, model, precision="float64") == pytest.approx(MATLAB_BABOON, abs=1e-3)
