"""GT preparation (flip, reflect-101 pad, random crop) and the batch-wide paired crop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from replication.degrade.crop import paired_random_crop, prepare_gt, reflect101_indices

pytestmark = pytest.mark.usefixtures("one_thread")


def test_reflect101_matches_numpy_reflect_for_any_padding():
    for length, needed in ((5, 9), (5, 30), (1, 4), (2, 7)):
        ref = np.pad(np.arange(length), (0, needed - length), mode="reflect")
        assert reflect101_indices(length, needed).tolist() == ref.tolist()


def test_prepare_gt_pads_small_images_and_crops_windows_of_large_ones():
    g = torch.Generator().manual_seed(0)
    small = torch.rand(3, 50, 70, generator=g)
    out = prepare_gt(small, 96, hflip=False, generator=g)
    assert out.shape == (3, 96, 96)
    ref = np.pad(small.numpy(), ((0, 0), (0, 46), (0, 26)), mode="reflect")  # cv2 BORDER_REFLECT_101
    assert torch.equal(out, torch.from_numpy(ref))
    big = torch.arange(3 * 40 * 50, dtype=torch.float32).view(3, 40, 50)
    tops = set()
    for _ in range(50):
        crop = prepare_gt(big, 16, hflip=False, generator=g)
        top, left = divmod(int(crop[0, 0, 0]), 50)
        assert torch.equal(crop, big[:, top : top + 16, left : left + 16])
        tops.add(top)
    assert len(tops) > 10


def test_prepare_gt_flips_half_the_time():
    g = torch.Generator().manual_seed(1)
    img = torch.arange(8, dtype=torch.float32).view(1, 1, 8).expand(3, 8, 8).contiguous()
    flips = sum(int(prepare_gt(img, 8, hflip=True, generator=g)[0, 0, 0]) == 7 for _ in range(1000))
    assert stats.binomtest(flips, 1000, 0.5).pvalue > 1e-3
    assert all(int(prepare_gt(img, 8, hflip=False, generator=g)[0, 0, 0]) == 0 for _ in range(20))


def test_paired_crop_aligns_gt_and_lq_with_one_offset_per_batch():
    g = torch.Generator().manual_seed(2)
    gt = torch.rand(3, 3, 64, 64, generator=g)
    gt_usm = gt * 2
    lq = torch.nn.functional.avg_pool2d(gt, 4)
    (gt_c, usm_c), lq_c = paired_random_crop([gt, gt_usm], lq, 32, 4, g)
    assert gt_c.shape == (3, 3, 32, 32) and lq_c.shape == (3, 3, 8, 8)
    torch.testing.assert_close(torch.nn.functional.avg_pool2d(gt_c, 4), lq_c)
    torch.testing.assert_close(usm_c, gt_c * 2)
    # One offset for the whole batch: locate each sample's crop; all agree.
    offsets = set()
    for i in range(3):
        hits = (lq[i, 0].unfold(0, 8, 1).unfold(1, 8, 1) == lq_c[i, 0]).all(-1).all(-1).nonzero()
        offsets.add(tuple(hits[0].tolist()))
    assert len(offsets) == 1
    single, _ = paired_random_crop(gt, lq, 32, 4, g)
    assert isinstance(single, torch.Tensor)


def test_paired_crop_errors_name_the_sizes():
    g = torch.Generator()
    with pytest.raises(ValueError, match="not 4x the LQ"):
        paired_random_crop([torch.zeros(1, 3, 60, 64)], torch.zeros(1, 3, 16, 16), 32, 4, g)
    with pytest.raises(ValueError, match="smaller than the LQ patch"):
        paired_random_crop([torch.zeros(1, 3, 32, 32)], torch.zeros(1, 3, 8, 8), 64, 4, g)
    with pytest.raises(ValueError, match="divisible"):
        paired_random_crop([torch.zeros(1, 3, 32, 32)], torch.zeros(1, 3, 8, 8), 30, 4, g)
