"""Gaussian / Poisson noise: levels, gray option, shared gray field, unique-value rule, scopes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import degradation_cfg
from scipy import stats

from replication.degrade.noise import (
    _levels_per_sample,
    gaussian_noise,
    poisson_noise,
    sample_noise,
)

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_gaussian_noise_has_each_samples_sigma():
    img = torch.full((3, 3, 96, 96), 0.5)
    sigma = torch.tensor([2.0, 10.0, 20.0])
    out = gaussian_noise(img, sigma, torch.zeros(3, dtype=torch.bool), _gen())
    noise = (out - img) * 255
    torch.testing.assert_close(noise.std(dim=(1, 2, 3)), sigma, rtol=0.03, atol=0)
    assert float(noise.mean().abs()) < 0.1
    # Colour noise: channels independent.
    assert abs(float(torch.corrcoef(noise[2].reshape(3, -1))[0, 1])) < 0.05


def test_gray_gaussian_field_is_shared_across_the_batch_like_the_reference():
    img = torch.full((3, 3, 32, 32), 0.5)
    sigma = torch.tensor([5.0, 12.0, 7.0])
    gray = torch.tensor([True, True, False])
    noise = gaussian_noise(img, sigma, gray, _gen(1), gray_field_shared=True) - img
    assert torch.equal(noise[0, 0], noise[0, 1]) and torch.equal(noise[0, 0], noise[0, 2])
    torch.testing.assert_close(noise[0] / 5.0, noise[1] / 12.0, atol=1e-6, rtol=0)  # one field, two sigmas
    assert not torch.allclose(noise[2, 0], noise[2, 1])
    own = gaussian_noise(img, sigma, gray, _gen(1), gray_field_shared=False) - img
    assert torch.equal(own[0, 0], own[0, 2])
    assert not torch.allclose(own[0] / 5.0, own[1] / 12.0, atol=1e-3)


def test_noise_is_clamped_to_unit_range():
    img = torch.cat([torch.zeros(1, 3, 16, 16), torch.ones(1, 3, 16, 16)])
    out = gaussian_noise(img, torch.tensor([30.0, 30.0]), torch.tensor([False, True]), _gen())
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    out = poisson_noise(img, torch.tensor([3.0, 3.0]), torch.tensor([True, False]), _gen())
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_poisson_levels_follow_the_unique_value_rule():
    # 2^ceil(log2(#distinct 8-bit values)), counted per sample over all channels.
    imgs = torch.zeros(4, 3, 16, 16)
    for i, distinct in enumerate((1, 2, 5, 200)):
        values = torch.arange(distinct, dtype=torch.float32) / 255.0
        imgs[i].view(-1)[:distinct] = values
        imgs[i].view(-1)[distinct:] = values[0]
    assert _levels_per_sample(imgs).tolist() == [1.0, 2.0, 8.0, 256.0]


def test_poisson_noise_variance_is_value_over_levels():
    img = torch.full((2, 3, 128, 128), 0.5)
    img.view(2, -1)[:, :256] = torch.arange(256) / 255.0  # 256 distinct values -> v = 256
    scale = torch.tensor([1.0, 2.0])
    noise = poisson_noise(img, scale, torch.zeros(2, dtype=torch.bool), _gen(2)) - img
    var = noise.view(2, -1)[:, 1000:].var(dim=1)
    torch.testing.assert_close(var, scale**2 * 0.5 / 256, rtol=0.05, atol=0)
    # Two distinct values -> v = 2: noisy values sit on the half-integer grid around the rounded image.
    two = torch.full((1, 3, 32, 32), 0.6)
    two[..., :16] = 0.2
    base = (two * 255).round() / 255
    out = poisson_noise(two, torch.tensor([1.0]), torch.tensor([False]), _gen(3))
    inside = (out > 0) & (out < 1)
    lattice = (out - two + base) * 2
    torch.testing.assert_close(lattice[inside], lattice[inside].round(), atol=1e-5, rtol=0)


def test_gray_poisson_noise_is_identical_across_channels():
    img = torch.rand(2, 3, 32, 32, generator=_gen(4)) * 0.5 + 0.25
    out = poisson_noise(img, torch.tensor([1.0, 1.0]), torch.tensor([True, False]), _gen(5))
    noise = out - img
    unclipped = ((out[0] > 0) & (out[0] < 1)).all(dim=0)
    assert float(unclipped.double().mean()) > 0.95
    n0 = noise[0][:, unclipped]
    torch.testing.assert_close(n0[0], n0[1], atol=1e-6, rtol=0)
    torch.testing.assert_close(n0[1], n0[2], atol=1e-6, rtol=0)
    assert not torch.allclose(noise[1, 0], noise[1, 1], atol=1e-3)


def test_noise_draws_scopes_and_ranges():
    cfg = degradation_cfg().noise1
    g = _gen(6)
    draws = [sample_noise(cfg, 4, g) for _ in range(2000)]
    n_gauss = sum(d.family == "gaussian" for d in draws)  # one family per batch
    assert stats.binomtest(n_gauss, 2000, cfg.gaussian_prob).pvalue > 1e-3
    gauss = torch.cat([d.level for d in draws if d.family == "gaussian"])
    pois = torch.cat([d.level for d in draws if d.family == "poisson"])
    assert cfg.gaussian_sigma[0] <= float(gauss.min()) and float(gauss.max()) <= cfg.gaussian_sigma[1]
    assert cfg.poisson_scale[0] <= float(pois.min()) and float(pois.max()) <= cfg.poisson_scale[1]
    assert float(gauss.std()) > 5  # per-sample levels, not one per batch
    gray = torch.cat([d.gray for d in draws])
    assert stats.binomtest(int(gray.sum()), gray.numel(), cfg.gray_prob).pvalue > 1e-3
    within = torch.stack([d.level for d in draws])
    assert bool((within.std(dim=1) > 0).all())


@pytest.mark.parametrize("family", ["gaussian", "poisson"])
def test_same_generator_state_same_noise(family):
    img = torch.rand(2, 3, 24, 24, generator=_gen(7))
    fn = gaussian_noise if family == "gaussian" else poisson_noise
    level = torch.tensor([10.0, 20.0]) if family == "gaussian" else torch.tensor([1.0, 2.0])
    a = fn(img, level, torch.tensor([True, False]), _gen(8))
    b = fn(img, level, torch.tensor([True, False]), _gen(8))
    assert torch.equal(a, b)
