"""Two-level bootstrap over seeds and images, and the verdict rule: known-answer cases."""

from __future__ import annotations

import numpy as np
import pytest

from replication.evaluate.bootstrap import (
    CONTRADICTED,
    INCONCLUSIVE,
    REPRODUCED,
    Estimate,
    paired_difference,
    resample_means,
    spread_difference,
    verdict,
)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_constant_shift_gives_that_shift_with_a_zero_width_interval():
    ref = _rng(1).normal(5.0, 2.0, size=(3, 20))  # any seed/image structure
    est = paired_difference(ref + 0.75, ref, lower_better=True, n_boot=500, rng=_rng())
    assert est.effect == pytest.approx(0.75, abs=1e-12)
    assert est.ci_low == pytest.approx(0.75, abs=1e-12) and est.ci_high == pytest.approx(0.75, abs=1e-12)
    assert (est.n_seeds, est.n_images) == (3, 20)
    assert est.seed_spread == pytest.approx(0.0, abs=1e-12)
    assert verdict(est) == REPRODUCED


def test_orientation_follows_the_metric_direction():
    ref = np.full((2, 4), 30.0)
    worse_psnr = paired_difference(ref - 1.0, ref, lower_better=False, n_boot=100, rng=_rng())
    assert worse_psnr.effect == pytest.approx(1.0)  # reference is 1 dB better: positive
    better_niqe = paired_difference(ref - 1.0, ref, lower_better=True, n_boot=100, rng=_rng())
    assert better_niqe.effect == pytest.approx(-1.0)  # variant has lower NIQE: the reference is worse
    assert verdict(better_niqe) == CONTRADICTED


def test_zero_variance_cells_give_the_value_itself():
    draws = resample_means(np.full((4, 7), 2.5), 50, _rng())
    assert np.all(draws == 2.5)


def test_resampling_is_deterministic_given_the_generator():
    x = _rng(3).normal(size=(3, 9))
    a = resample_means(x, 200, _rng(11))
    b = resample_means(x, 200, _rng(11))
    c = resample_means(x, 200, _rng(12))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_seed_noise_widens_the_interval_beyond_an_image_only_bootstrap():
    # Per-seed offsets (training noise) that images alone cannot see: resampling seeds must widen the CI.
    rng = _rng(5)
    seed_noise = np.array([[-1.0], [0.0], [1.0]])
    diff = seed_noise + rng.normal(0.0, 0.1, size=(3, 50))
    est = paired_difference(diff, np.zeros_like(diff), lower_better=True, n_boot=2000, rng=_rng())
    img_only = resample_means(diff.reshape(1, -1), 2000, _rng())
    assert (est.ci_high - est.ci_low) > 5 * (np.quantile(img_only, 0.975) - np.quantile(img_only, 0.025))
    assert verdict(est) == INCONCLUSIVE


def test_coverage_of_a_synthetic_case_with_known_mean():
    # Two-level model: effect 0.3 + seed effect N(0, 0.2) + image effect N(0, 0.5); 95% nominal CI.
    true_mean, hits, trials = 0.3, 0, 200
    gen = _rng(2024)
    for _ in range(trials):
        diff = true_mean + gen.normal(0, 0.2, size=(8, 1)) + gen.normal(0, 0.5, size=(8, 30))
        est = paired_difference(diff, np.zeros_like(diff), lower_better=True, n_boot=400, rng=gen)
        hits += est.ci_low <= true_mean <= est.ci_high
    # Measured: 0.945 here, while an images-only bootstrap of the same data covers 0.66 of the time.
    # 0.85 is a floor with room for Monte Carlo noise (200 trials: standard error about 0.016).
    assert 0.85 <= hits / trials <= 1.0


def test_one_seed_is_always_inconclusive():
    x = np.full((1, 10), 1.0)
    est = paired_difference(x + 5.0, x, lower_better=True, n_boot=50, rng=_rng())
    assert est.ci_low > 0  # a clear difference on images ...
    assert verdict(est) == f"{INCONCLUSIVE} (1 seed)"  # ... but one training run


def test_verdict_reads_the_interval():
    def est(low, high):
        return Estimate(effect=(low + high) / 2, ci_low=low, ci_high=high, n_seeds=3, n_images=5, seed_effects=())

    assert verdict(est(0.1, 0.5)) == REPRODUCED
    assert verdict(est(-0.5, -0.1)) == CONTRADICTED
    assert verdict(est(-0.1, 0.5)) == INCONCLUSIVE
    assert verdict(est(0.0, 0.0)) == INCONCLUSIVE


def test_spread_difference_sees_a_more_stable_reference():
    gen = _rng(9)
    stable = 4.0 + gen.normal(0, 0.01, size=(6, 1)) + gen.normal(0, 0.05, size=(6, 20))
    unstable = 4.0 + np.array([[-3.0], [3.0], [-2.5], [2.5], [-3.5], [3.5]]) + gen.normal(0, 0.05, size=(6, 20))
    est = spread_difference(unstable, stable, n_boot=1000, rng=_rng())
    assert est.effect > 2.5 and est.ci_low > 0
    assert verdict(est) == REPRODUCED
    with pytest.raises(ValueError, match="two seeds"):
        spread_difference(unstable[:1], stable, n_boot=10, rng=_rng())


def test_misaligned_or_undefined_inputs_are_refused():
    with pytest.raises(ValueError, match="aligned"):
        paired_difference(np.zeros((2, 3)), np.zeros((2, 4)), True, 10, _rng())
    with pytest.raises(ValueError, match="non-finite"):
        paired_difference(np.array([[np.nan, 1.0]]), np.zeros((1, 2)), True, 10, _rng())
