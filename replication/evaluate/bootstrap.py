"""Two-level (hierarchical) bootstrap over training seeds and test images, and the claim verdict rule.

A comparison of two trained variants has two sources of noise: the training run (seed) and the test
images. Resampling images alone (``results.summarise``) ignores the first, so a difference between
two single runs can look significant when it is only training noise. Here both levels are resampled:
draw ``S`` seeds with replacement, then, independently for every drawn seed, ``I`` images with
replacement, and take the mean of the drawn cells. The percentile interval of that mean over
``n_boot`` draws is the CI.

Values are arranged as a ``(seeds, images)`` matrix. The paired difference of a variant against the
reference (``full``) uses the cells both share (same seed, same image): same seed means the same
initialisation and data order, so pairing on it removes common noise (common random numbers).

Effects are *oriented*: positive means the reference is better (the paper's direction for every
ablation claim), whatever the metric's direction. :func:`verdict` then reads the CI.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REPRODUCED = "reproduced"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive at this scale"


@dataclass(frozen=True)
class Estimate:
    """A bootstrap estimate: the point effect, its percentile CI and the sample it came from."""

    effect: float  # oriented: > 0 means the reference (full) is better
    ci_low: float
    ci_high: float
    n_seeds: int
    n_images: int
    seed_effects: tuple[float, ...]  # the effect per seed (mean over images), for the spread
    level: float = 0.95

    @property
    def seed_spread(self) -> float:
        """Sample standard deviation of the per-seed effects (NaN with one seed)."""
        return float(np.std(self.seed_effects, ddof=1)) if len(self.seed_effects) > 1 else float("nan")


def _check_matrix(values: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] < 1 or values.shape[1] < 1:
        raise ValueError(f"{name}: expected a non-empty (seeds, images) matrix, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name}: non-finite values; drop the undefined images first (complete_cells)")
    return values


def resample_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` two-level bootstrap means of a ``(seeds, images)`` matrix (seeds, then images per seed)."""
    values = _check_matrix(values, "values")
    s, i = values.shape
    seeds = rng.integers(0, s, size=(n_boot, s))
    images = rng.integers(0, i, size=(n_boot, s, i))
    return values[seeds[:, :, None], images].mean(axis=(1, 2))


def _percentile_ci(draws: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(draws, [alpha, 1.0 - alpha])
    return float(low), float(high)


def oriented(variant: np.ndarray, reference: np.ndarray, lower_better: bool) -> np.ndarray:
    """Per-cell effect of the reference over the variant, positive when the reference is better."""
    variant = np.asarray(variant, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    return variant - reference if lower_better else reference - variant


def paired_difference(
    variant: np.ndarray,
    reference: np.ndarray,
    lower_better: bool,
    n_boot: int,
    rng: np.random.Generator,
    level: float = 0.95,
) -> Estimate:
    """Mean oriented difference of two aligned ``(seeds, images)`` matrices with its two-level CI."""
    variant = _check_matrix(variant, "variant")
    reference = _check_matrix(reference, "reference")
    if variant.shape != reference.shape:
        raise ValueError(f"variant {variant.shape} and reference {reference.shape} are not aligned")
    diff = oriented(variant, reference, lower_better)
    low, high = _percentile_ci(resample_means(diff, n_boot, rng), level)
    return Estimate(
        effect=float(diff.mean()),
        ci_low=low,
        ci_high=high,
        n_seeds=diff.shape[0],
        n_images=diff.shape[1],
        seed_effects=tuple(float(v) for v in diff.mean(axis=1)),
        level=level,
    )


def _spread_draws(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap draws of the between-seed standard deviation of the per-seed mean."""
    s, i = values.shape
    seeds = rng.integers(0, s, size=(n_boot, s))
    images = rng.integers(0, i, size=(n_boot, s, i))
    per_seed = values[seeds[:, :, None], images].mean(axis=2)
    return per_seed.std(axis=1, ddof=1)


def spread_difference(
    variant: np.ndarray,
    reference: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    level: float = 0.95,
) -> Estimate:
    """Seed spread of the variant minus that of the reference (> 0: the reference is more stable).

    The spread is the standard deviation over seeds of the mean over images. The two models are
    resampled independently (their seeds are separate training runs); it needs at least two seeds.
    """
    variant = _check_matrix(variant, "variant")
    reference = _check_matrix(reference, "reference")
    if variant.shape[0] < 2 or reference.shape[0] < 2:
        raise ValueError("a seed spread needs at least two seeds per model")
    draws = _spread_draws(variant, n_boot, rng) - _spread_draws(reference, n_boot, rng)
    low, high = _percentile_ci(draws, level)
    effect = float(variant.mean(axis=1).std(ddof=1) - reference.mean(axis=1).std(ddof=1))
    return Estimate(
        effect=effect,
        ci_low=low,
        ci_high=high,
        n_seeds=min(variant.shape[0], reference.shape[0]),
        n_images=min(variant.shape[1], reference.shape[1]),
        seed_effects=(),
        level=level,
    )


def verdict(est: Estimate, min_seeds: int = 2) -> str:
    """reproduced: the CI excludes 0 in the paper's direction (> 0); contradicted: it excludes 0 the
    other way; inconclusive otherwise, and always with fewer than ``min_seeds`` seeds (one training
    run cannot separate a variant from training noise, however many images it is scored on)."""
    if est.n_seeds < min_seeds:
        return f"{INCONCLUSIVE} ({est.n_seeds} seed{'s' if est.n_seeds != 1 else ''})"
    if est.ci_low > 0:
        return REPRODUCED
    if est.ci_high < 0:
        return CONTRADICTED
    return INCONCLUSIVE
