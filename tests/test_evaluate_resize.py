"""MATLAB-style imresize and the Bicubic baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import require_mirror

from replication.evaluate.bicubic import bicubic_upscale
from replication.evaluate.matlab_resize import (
    cubic_kernel,
    imresize,
    imresize_np,
    resize_taps,
)
from replication.imageio import read_image

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def set14() -> Path:
    return require_mirror("datasets/set14/LR_bicubic_X4") / "datasets" / "set14"


@pytest.mark.parametrize("name", ["baboon", "comic", "zebra"])
def test_shrink_reproduces_matlab_set14_lr_exactly(set14, name):
    # Set14's LR_bicubic_X4 images are MATLAB imresize(HR, 1/4) in uint8.
    hr = read_image(set14 / "HR" / f"{name}.png").rgb.double()
    lr = read_image(set14 / "LR_bicubic_X4" / f"{name}.png").rgb.double()
    ours = imresize(hr * 255, 0.25).clamp(0, 255).round()
    assert ours.shape == lr.shape
    assert torch.equal(ours, (lr * 255).round())


def test_kernel_and_weights():
    assert cubic_kernel(np.array([0.0]))[0] == 1.0
    np.testing.assert_allclose(cubic_kernel(np.array([1.0, 2.0, 2.5, -1.0])), 0.0)
    idx, w = resize_taps(10, 40, 4.0)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert idx.min() >= 0 and idx.max() <= 9  # mirrored into range
    idx, w = resize_taps(3, 1, 0.25)  # kernel wider than the image: mirroring wraps repeatedly
    assert idx.min() >= 0 and idx.max() <= 2


def test_upscale_reproduces_constants_and_interior_ramps():
    const = torch.full((1, 1, 6, 7), 0.3, dtype=torch.float64)
    torch.testing.assert_close(imresize(const, 4), torch.full((1, 1, 24, 28), 0.3, dtype=torch.float64))
    ramp = np.tile(np.arange(20, dtype=np.float64), (5, 1))  # x = column index
    up = imresize_np(ramp, 2)
    centres = (np.arange(40) + 0.5) / 2 - 0.5  # input coordinate of each output column
    interior = slice(6, 34)  # away from the mirrored borders, cubic convolution is exact on lines
    np.testing.assert_allclose(up[2, interior], centres[interior], atol=1e-12)


def test_bicubic_baseline_is_exactly_x4_and_clamped():
    g = torch.Generator().manual_seed(0)
    lr = torch.rand(1, 3, 13, 9, generator=g)
    sr = bicubic_upscale(lr, 4)
    assert sr.shape == (1, 3, 52, 36) and sr.dtype == torch.float32
    assert sr.min() >= 0 and sr.max() <= 1
    alpha = bicubic_upscale(torch.rand(1, 1, 13, 9, generator=g), 4)
    assert alpha.shape == (1, 1, 52, 36)
    with pytest.raises(ValueError):
        bicubic_upscale(lr, 0)
