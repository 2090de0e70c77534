"""Residual noise and blur measures (replication/evaluate/residual.py) on images with known added
noise and blur: the response is monotone and roughly calibrated (docs/residual_measures.md)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from replication.evaluate.residual import edge_width, edge_width_y, noise_sigma, noise_sigma_y
from replication.evaluate.scorers import MetricResources, build_scorers


def _scene(seed: int = 0, size: int = 192) -> np.ndarray:
    """A luma image on [0, 255]: a gentle ramp with rectangles of 50-90 levels contrast (no noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    img = 60.0 + 0.3 * xx + 0.2 * yy
    for _ in range(12):
        y0, x0 = rng.integers(0, size - 40, 2)
        h, w = rng.integers(16, 40, 2)
        img[y0 : y0 + h, x0 : x0 + w] += rng.choice([-1.0, 1.0]) * rng.uniform(50, 90)
    return np.clip(img, 20, 235)


def test_noise_estimate_is_calibrated_and_monotone():
    img, rng = _scene(), np.random.default_rng(1)
    assert noise_sigma(img) == pytest.approx(0.0, abs=0.05)  # locally linear signal: no response
    sigmas = (1.0, 2.0, 5.0, 10.0, 20.0)
    est = [noise_sigma(img + rng.normal(0.0, s, img.shape)) for s in sigmas]
    assert all(a < b for a, b in itertools.pairwise(est))
    for s, e in zip(sigmas, est, strict=True):
        assert e == pytest.approx(s, rel=0.15)
    # Blur of the scene does not fake noise, and noise on a blurred scene is still read.
    assert noise_sigma(gaussian_filter(img, 2.0)) < 0.5
    assert noise_sigma(gaussian_filter(img, 1.0) + rng.normal(0.0, 5.0, img.shape)) == pytest.approx(5.0, rel=0.15)


def test_edge_width_grows_with_blur_as_expected_for_a_gaussian():
    img = _scene()
    blurs = (0.5, 1.0, 1.5, 2.0, 3.0)
    widths = [edge_width(gaussian_filter(img, s)) for s in blurs]
    assert edge_width(img) == pytest.approx(2.0, abs=0.3)  # a perfect step: 2 px with central differences
    assert all(a < b for a, b in itertools.pairwise(widths))
    for s, w in zip(blurs, widths, strict=True):  # width^2 ~ 4 + 2 pi s^2 (step + Gaussian)
        assert w == pytest.approx(math.sqrt(4.0 + 2.0 * math.pi * s * s), rel=0.15)
    # Mild noise does not break the ordering.
    rng = np.random.default_rng(2)
    noisy = [edge_width(gaussian_filter(img, s) + rng.normal(0.0, 5.0, img.shape)) for s in (0.5, 1.0, 2.0)]
    assert noisy[0] < noisy[1] < noisy[2]


def test_undefined_without_edges_and_tensor_wrappers():
    flat = np.full((64, 64), 128.0)
    assert math.isnan(edge_width(flat))
    assert math.isnan(noise_sigma(np.zeros((2, 2))))
    grey = torch.from_numpy(_scene() / 255.0).float()[None, None].repeat(1, 3, 1, 1)
    assert edge_width_y(grey) == pytest.approx(edge_width(_scene()), rel=0.05)  # grey RGB: luma = the value (float32)
    assert noise_sigma_y(grey, crop_border=4) == pytest.approx(0.0, abs=0.05)


def test_registered_as_no_reference_scorers():
    scorers, unavailable = build_scorers(["noise_sigma", "edge_width"], MetricResources())
    assert not unavailable
    rng = np.random.default_rng(3)
    x = torch.from_numpy(np.clip(_scene() + rng.normal(0, 10, (192, 192)), 0, 255) / 255.0).float()
    x = x[None, None].repeat(1, 3, 1, 1)
    assert scorers["noise_sigma"](x) == pytest.approx(10.0, rel=0.2)
    assert scorers["edge_width"](x) > 0
