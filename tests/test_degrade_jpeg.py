"""Batched DiffJPEG: quality semantics, per-sample quality, padding, and agreement with libjpeg."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers import mirror_dir

from replication.degrade.jpeg import diff_jpeg, quality_to_factor
from replication.imageio import read_image

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """A 128x128 8-bit natural image crop, (1, 3, 128, 128)."""
    path = mirror_dir() / "datasets" / "set5" / "HR" / "baby.png"
    if not path.is_file():
        pytest.skip(f"mirror image {path} not available")
    return read_image(path).rgb[:, :, 200:328, 200:328].contiguous()


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / ((a - b) ** 2).mean()))


def test_quality_factor_is_continuous_libjpeg_scaling():
    q = torch.tensor([10.0, 25.0, 50.0, 75.0, 95.0, 62.5])
    torch.testing.assert_close(quality_to_factor(q), torch.tensor([5.0, 2.0, 1.0, 0.5, 0.1, 0.75]))
    with pytest.raises(ValueError, match="quality"):
        quality_to_factor(torch.tensor([100.0]))


def test_psnr_falls_monotonically_with_quality(photo):
    qualities = [95.0, 85.0, 70.0, 55.0, 40.0, 30.0, 15.0]
    batch = photo.expand(len(qualities), -1, -1, -1)
    out = diff_jpeg(batch, torch.tensor(qualities))
    psnr = [_psnr(out[i : i + 1], photo) for i in range(len(qualities))]
    assert all(a > b for a, b in itertools.pairwise(psnr)), psnr
    assert psnr[0] > 38 and psnr[-1] < 33


def test_each_sample_gets_its_own_quality(photo):
    x = torch.cat([photo, photo.flip(-1)])
    both = diff_jpeg(x, torch.tensor([35.5, 90.0]))
    torch.testing.assert_close(both[:1], diff_jpeg(photo, torch.tensor([35.5])), atol=1e-6, rtol=0)
    torch.testing.assert_close(both[1:], diff_jpeg(photo.flip(-1), torch.tensor([90.0])), atol=1e-6, rtol=0)


def test_close_to_libjpeg_at_the_same_quality(photo):
    """Not bit-equal (continuous tables, no pixel rounding), but the same compression strength."""
    bgr = (photo[0].permute(1, 2, 0).numpy()[:, :, ::-1] * 255).round().astype(np.uint8)
    for q in (30, 60, 90):
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, q])
        assert ok
        ref = torch.from_numpy(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].copy()).permute(2, 0, 1)[None] / 255.0
        ours = diff_jpeg(photo, torch.tensor([float(q)]))
        assert abs(_psnr(ours, photo) - _psnr(ref, photo)) < 1.0, q
        assert _psnr(ours, ref) > 35


def test_odd_sizes_are_zero_padded_and_cropped_back():
    x = torch.rand(2, 3, 37, 53, generator=torch.Generator().manual_seed(0))
    out = diff_jpeg(x, torch.tensor([50.0, 80.0]))
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    # Zero padding: the last real column equals the one of an image explicitly padded with black.
    padded = torch.nn.functional.pad(x, (0, 11, 0, 11))
    torch.testing.assert_close(out, diff_jpeg(padded, torch.tensor([50.0, 80.0]))[..., :37, :53], atol=1e-6, rtol=0)


def test_chroma_is_subsampled_420():
    """A pure chroma checkerboard at 1-px period is averaged away within each 2x2 block."""
    y, x = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    checker = ((x + y) % 2).float()
    img = torch.stack([0.5 + 0.2 * checker, 0.5 - 0.1 * checker, 0.5 + 0.2 * checker])[None]
    out = diff_jpeg(img, torch.tensor([99.0]))
    # Luma survives at q 99; the chroma oscillation (R - G) is mostly gone.
    diff_in = (img[0, 0] - img[0, 1]).std()
    diff_out = (out[0, 0] - out[0, 1]).std()
    assert float(diff_out) < 0.5 * float(diff_in)
