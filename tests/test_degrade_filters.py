"""filter2D semantics (reflect padding, correlation, per-sample kernels) and separable USM."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from scipy import ndimage

from replication.degrade.config import USMConfig
from replication.degrade.filters import filter2d, filter2d_direct, separable_filter
from replication.degrade.usm import gaussian_kernel_1d, opencv_sigma, usm_sharp

pytestmark = pytest.mark.usefixtures("one_thread")


def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def test_fft_filter_equals_grouped_conv_per_sample_and_shared():
    img = _rand(3, 3, 40, 33)
    kernels = _rand(3, 21, 21, seed=1)
    torch.testing.assert_close(filter2d(img, kernels), filter2d_direct(img, kernels), atol=2e-5, rtol=1e-5)
    shared = kernels[:1]
    torch.testing.assert_close(filter2d(img, shared), filter2d_direct(img, shared), atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(filter2d(img, shared[0]), filter2d_direct(img, shared), atol=2e-5, rtol=1e-5)
    # Each image really gets its own kernel.
    one = filter2d(img[1:2], kernels[1:2])
    torch.testing.assert_close(filter2d(img, kernels)[1:2], one, atol=1e-6, rtol=0)


def test_filter_is_reflect_padded_correlation():
    """scipy's 'mirror' mode is reflect without edge repetition (PyTorch 'reflect')."""
    img = _rand(1, 1, 30, 26, seed=2)
    k = _rand(7, 7, seed=3)  # deliberately asymmetric: correlation, not convolution
    ref = ndimage.correlate(img[0, 0].double().numpy(), k.double().numpy(), mode="mirror")
    np.testing.assert_allclose(filter2d(img, k)[0, 0].numpy(), ref, atol=2e-5)
    np.testing.assert_allclose(filter2d_direct(img, k)[0, 0].numpy(), ref, atol=2e-5)


def test_filter_rejects_even_kernels_and_tiny_images():
    with pytest.raises(ValueError, match="odd"):
        filter2d(_rand(1, 3, 20, 20), torch.ones(4, 4) / 16)
    with pytest.raises(ValueError, match="too small"):
        filter2d(_rand(1, 3, 10, 40), torch.ones(21, 21) / 441)
    with pytest.raises(ValueError, match="kernels for a batch"):
        filter2d(_rand(2, 3, 30, 30), torch.ones(3, 5, 5) / 25)


def test_separable_filter_equals_2d_filter_with_outer_product():
    img = _rand(2, 3, 60, 70, seed=4)
    k1 = gaussian_kernel_1d(31)
    direct = filter2d_direct(img, torch.outer(k1, k1))
    torch.testing.assert_close(separable_filter(img, k1), direct, atol=5e-6, rtol=0)


def test_usm_kernel_is_opencv_gaussian_with_sigma_8():
    assert opencv_sigma(51) == pytest.approx(8.0)
    ref = cv2.getGaussianKernel(51, 0).ravel()
    np.testing.assert_allclose(gaussian_kernel_1d(51).numpy(), ref, rtol=1e-6, atol=1e-9)


def _usm_direct(img: torch.Tensor, cfg: USMConfig) -> torch.Tensor:
    """The reference formula with one 51x51 2-D convolution per blur."""
    k1 = gaussian_kernel_1d(cfg.kernel_size)
    k2 = torch.outer(k1, k1)
    res = img - filter2d_direct(img, k2)
    mask = (res.abs() * 255 > cfg.threshold).float()
    soft = filter2d_direct(mask, k2)
    sharp = (img + cfg.weight * res).clamp(0, 1)
    return soft * sharp + (1 - soft) * img


def test_separable_usm_equals_direct_2d_usm():
    cfg = USMConfig(kernel_size=51, weight=0.5, threshold=10.0)
    img = torch.nn.functional.interpolate(_rand(2, 3, 24, 20, seed=5), size=(96, 80), mode="bicubic").clamp(0, 1)
    out = usm_sharp(img, cfg)
    torch.testing.assert_close(out, _usm_direct(img, cfg), atol=1e-5, rtol=0)
    assert out.shape == img.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    # It sharpens: more high-frequency energy than the input.
    lap = torch.tensor([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], dtype=torch.float32)
    assert filter2d(out, lap).abs().mean() > 1.2 * filter2d(img, lap).abs().mean()


def test_usm_leaves_flat_images_alone():
    img = torch.full((1, 3, 64, 64), 0.37)
    torch.testing.assert_close(usm_sharp(img, USMConfig(51, 0.5, 10.0)), img, atol=1e-6, rtol=0)
