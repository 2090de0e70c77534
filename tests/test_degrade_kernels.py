"""Blur / sinc kernels: normalisation, geometry, and sampling statistics (fixed seeds)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import degradation_cfg
from scipy import special, stats

from replication.degrade.config import DegradationConfig
from replication.degrade.kernels import (
    PULSE,
    SINC,
    gaussian_family_kernels,
    sample_blur_kernels,
    sample_final_sinc,
    sinc_kernels,
)

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cfg() -> DegradationConfig:
    return degradation_cfg()


@pytest.fixture(scope="module")
def many(cfg):
    """5000 stage-1 kernels from a fixed seed."""
    return sample_blur_kernels(cfg.blur1, 5000, torch.Generator().manual_seed(123), 21)


def test_kernels_sum_to_one_and_vanish_outside_their_window(many):
    k = many.kernels
    assert k.shape == (5000, 21, 21) and k.dtype == torch.float32
    torch.testing.assert_close(k.sum(dim=(1, 2)), torch.ones(5000), atol=1e-5, rtol=0)
    idx = torch.arange(21) - 10
    for i in range(0, 5000, 97):
        half = int(many.size[i]) // 2
        outside = (idx.abs() > half)[:, None] | (idx.abs() > half)[None, :]
        assert torch.all(k[i][outside] == 0)
        assert torch.any(k[i][~outside] != 0)
        # Every family is point-symmetric, so correlation == convolution.
        torch.testing.assert_close(k[i], k[i].flip(0, 1), atol=1e-7, rtol=0)


def test_kernel_types_follow_configured_probabilities(cfg, many):
    """Chi-square over (sinc, six Gaussian-family types) with the configured probabilities."""
    p_sinc = cfg.blur1.sinc_prob
    expected = np.array([p_sinc] + [(1 - p_sinc) * p for p in cfg.blur1.kernel_probs]) * 5000
    kinds = many.kind.numpy()
    observed = np.array([(kinds == SINC).sum()] + [(kinds == i).sum() for i in range(len(cfg.blur1.kernel_types))])
    assert observed.sum() == 5000
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # Paper: Gaussian : generalized : plateau = 0.70 : 0.15 : 0.15 among non-sinc kernels.
    families = np.array([observed[1] + observed[2], observed[3] + observed[4], observed[5] + observed[6]])
    assert stats.chisquare(families, families.sum() * np.array([0.7, 0.15, 0.15])).pvalue > 1e-3


def test_kernel_sizes_uniform_and_sinc_cutoff_depends_on_size(cfg, many):
    sizes = many.size.numpy()
    observed = np.array([(sizes == s).sum() for s in cfg.blur1.kernel_sizes])
    assert observed.sum() == 5000
    assert stats.chisquare(observed).pvalue > 1e-3
    sinc = many.kind == SINC
    omega = many.omega[sinc]
    small = many.size[sinc] < 13
    assert torch.all(omega[small] >= math.pi / 3 - 1e-6) and torch.all(omega[~small] >= math.pi / 5 - 1e-6)
    assert torch.all(omega <= math.pi + 1e-6)
    assert float(omega[~small].min()) < math.pi / 3  # the wider range is used for large kernels
    assert torch.all(torch.isnan(many.omega[~sinc]))


def test_shape_parameters_within_ranges(cfg, many):
    kinds = many.kind
    gauss = kinds >= 0
    s = many.sigma[gauss]
    assert float(s.min()) >= cfg.blur1.sigma[0] and float(s.max()) <= cfg.blur1.sigma[1]
    iso = torch.tensor(
        [
            cfg.blur1.kernel_types[i].endswith("iso") and "aniso" not in cfg.blur1.kernel_types[i]
            for i in kinds[gauss].tolist()
        ]
    )
    assert torch.equal(s[iso, 0], s[iso, 1]) and torch.all(many.theta[gauss][iso] == 0)
    theta = many.theta[gauss][~iso]
    assert float(theta.min()) >= -math.pi and float(theta.max()) <= math.pi and float(theta.std()) > 1.5
    types = [cfg.blur1.kernel_types[i] if i >= 0 else "" for i in kinds.tolist()]
    gen = torch.tensor([t.startswith("generalized") for t in types])
    plat = torch.tensor([t.startswith("plateau") for t in types])
    bg, bp = many.beta[gen], many.beta[plat]
    assert float(bg.min()) >= 0.5 and float(bg.max()) <= 4.0
    assert 0.4 < float((bg < 1).double().mean()) < 0.6
    # Plateau quirk: U(1, 1) = 1, so beta is exactly 1 about half the time.
    assert 0.4 < float((bp == 1).double().mean()) < 0.6 and float(bp.max()) <= 2.0
    assert torch.all(torch.isnan(many.beta[kinds == 0]))


def test_anisotropic_gaussian_matches_independent_density():
    """exp(-Q/2) with Sigma = R diag(sx^2, sy^2) R^T, compared with scipy's bivariate normal."""
    sx, sy, theta = 2.5, 0.9, 0.6
    k = gaussian_family_kernels(
        torch.tensor([0]),
        torch.tensor([sx], dtype=torch.float64),
        torch.tensor([sy], dtype=torch.float64),
        torch.tensor([theta], dtype=torch.float64),
        torch.tensor([1.0]),
        torch.tensor([15]),
        15,
    )[0].numpy()
    r = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    cov = r @ np.diag([sx**2, sy**2]) @ r.T
    t = np.arange(15) - 7
    y, x = np.meshgrid(t, t, indexing="ij")
    ref = stats.multivariate_normal(mean=[0, 0], cov=cov).pdf(np.stack([x, y], -1))
    np.testing.assert_allclose(k, ref / ref.sum(), rtol=1e-10, atol=1e-14)


def test_generalized_and_plateau_formulas():
    q_args = tuple(torch.tensor([v, v], dtype=torch.float64) for v in (1.7, 1.1, 0.3, 1.6))
    k = gaussian_family_kernels(torch.tensor([1, 2]), *q_args, torch.tensor([9, 9]), 9).numpy()
    c, s = math.cos(0.3), math.sin(0.3)
    t = np.arange(9) - 4
    y, x = np.meshgrid(t, t, indexing="ij")
    q = ((c * x + s * y) / 1.7) ** 2 + ((-s * x + c * y) / 1.1) ** 2
    gen = np.exp(-0.5 * q**1.6)
    plat = 1 / (q**1.6 + 1)
    np.testing.assert_allclose(k[0], gen / gen.sum(), rtol=1e-10)
    np.testing.assert_allclose(k[1], plat / plat.sum(), rtol=1e-10)


def test_sinc_kernel_matches_bessel_formula_and_pads_symmetrically():
    omega = 1.9
    k = sinc_kernels(torch.tensor([omega], dtype=torch.float64), torch.tensor([11]), 21)[0].numpy()
    t = np.arange(11) - 5
    y, x = np.meshgrid(t, t, indexing="ij")
    r = np.hypot(x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = omega * special.j1(omega * r) / (2 * np.pi * r)
    ref[5, 5] = omega**2 / (4 * np.pi)
    ref /= ref.sum()
    np.testing.assert_allclose(k[5:16, 5:16], ref, rtol=1e-10, atol=1e-14)
    assert np.all(k[:5] == 0) and np.all(k[:, 16:] == 0)


def test_final_sinc_rate_and_identity_pulse(cfg):
    fs = sample_final_sinc(
        cfg.final_sinc_prob, cfg.final_sinc_sizes, cfg.final_sinc_cutoff, 4000, torch.Generator().manual_seed(5), 21
    )
    is_sinc = fs.kind == SINC
    assert stats.binomtest(int(is_sinc.sum()), 4000, cfg.final_sinc_prob).pvalue > 1e-3
    pulse = fs.kernels[fs.kind == PULSE]
    expected = torch.zeros(21, 21)
    expected[10, 10] = 1
    assert torch.all(pulse == expected)
    # Final sinc: cut-off U(pi/3, pi) whatever the size.
    assert float(fs.omega[is_sinc].min()) >= math.pi / 3 - 1e-6
    assert float(fs.omega[is_sinc & (fs.size >= 13)].min()) < math.pi / 2


def test_same_seed_same_kernels(cfg):
    a = sample_blur_kernels(cfg.blur2, 16, torch.Generator().manual_seed(9), 21)
    b = sample_blur_kernels(cfg.blur2, 16, torch.Generator().manual_seed(9), 21)
    c = sample_blur_kernels(cfg.blur2, 16, torch.Generator().manual_seed(10), 21)
    assert torch.equal(a.kernels, b.kernels) and not torch.equal(a.kernels, c.kernels)
    assert float(a.sigma[a.kind >= 0].max()) <= cfg.blur2.sigma[1]
