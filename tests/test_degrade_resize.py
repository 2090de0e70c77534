"""Random resize rule and MATLAB-style anti-aliased bicubic imresize."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import degradation_cfg
from scipy import stats

from replication.degrade.resize import (
    RESIZE_KINDS,
    imresize_matlab,
    interpolate,
    matlab_weights,
    sample_resize,
)

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("stage", ["resize1", "resize2"])
def test_resize_kinds_factors_and_modes_follow_the_config(stage):
    cfg = getattr(degradation_cfg(), stage)
    g = torch.Generator().manual_seed(11)
    draws = [sample_resize(cfg, g) for _ in range(3000)]
    kinds = np.array([sum(d.kind == k for d in draws) for k in RESIZE_KINDS])
    assert stats.chisquare(kinds, np.array(cfg.probs) * 3000).pvalue > 1e-3
    modes = np.array([sum(d.mode == m for d in draws) for m in cfg.modes])
    assert stats.chisquare(modes).pvalue > 1e-3
    up = [d.factor for d in draws if d.kind == "up"]
    down = [d.factor for d in draws if d.kind == "down"]
    assert min(up) >= 1 and max(up) <= cfg.range[1] and max(up) > 1 + 0.8 * (cfg.range[1] - 1)
    assert cfg.range[0] <= min(down) and max(down) <= 1 and min(down) < cfg.range[0] + 0.05
    assert all(d.factor == 1.0 for d in draws if d.kind == "keep")


def test_interpolate_by_factor_floors_the_size():
    x = torch.rand(2, 3, 400, 400)
    for mode in ("area", "bilinear", "bicubic"):
        assert interpolate(x, mode, scale_factor=0.337).shape[-2:] == (134, 134)
        assert interpolate(x, mode, size=(30, 31)).shape[-2:] == (30, 31)


def test_imresize_weights_sum_to_one_and_keep_constants():
    for n_in, n_out, s in ((40, 10, 0.25), (33, 11, 1 / 3), (10, 20, 2.0)):
        w = matlab_weights(n_in, n_out, s)
        torch.testing.assert_close(w.sum(1), torch.ones(n_out, dtype=torch.float64))
    flat = torch.full((1, 3, 20, 24), 0.3)
    torch.testing.assert_close(imresize_matlab(flat, 0.25), torch.full((1, 3, 5, 6), 0.3))


def test_imresize_antialiases_when_shrinking():
    # A 1-px checkerboard is pure Nyquist: anti-aliased x1/4 bicubic flattens it to its mean.
    y, x = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    checker = ((x + y) % 2).float()[None, None]
    out = imresize_matlab(checker, 0.25)
    assert out.shape[-2:] == (16, 16) and float((out - 0.5).abs().max()) < 0.02


def test_imresize_matches_an_independent_matlab_port():
    matlab_utils = pytest.importorskip("pyiqa.matlab_utils")
    x = torch.rand(1, 3, 37, 50, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for s in (0.25, 0.5, 2.0):
        torch.testing.assert_close(imresize_matlab(x, s), matlab_utils.imresize(x, scale=s).double(), atol=1e-6, rtol=0)
