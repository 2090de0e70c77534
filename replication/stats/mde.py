"""The smallest true effect the crossed seeds x images test (:mod:`replication.stats.verdicts`) detects
with a given probability, from the variance components of a line.

The power is computed by simulating the test itself (not a normal approximation): ``trials`` null
matrices are drawn once from the variance components with a fixed seed, and a true effect ``delta``
only shifts their grand means (the variance estimate does not depend on a shift), so the rejection
rate is a monotone function of ``delta`` solved by bisection on the same draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from replication.stats.verdicts import LEVEL, crossed_df, crossed_variance

__all__ = ["Components", "components_from_mean_squares", "min_detectable_effect", "null_draws"]


@dataclass(frozen=True)
class Components:
    """Variances of the paired difference, in the metric's unit squared."""

    seed: float  # between training runs (per-seed offsets)
    image: float  # between images, shared by every seed
    residual: float  # seed x image interaction


def null_draws(comp: Components, n_seeds: int, n_images: int, trials: int, seed: int) -> tuple[np.ndarray, ...]:
    """(grand means, variance estimates) of ``trials`` simulated null matrices."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0.0, math.sqrt(comp.seed), (trials, n_seeds, 1))
    b = rng.normal(0.0, math.sqrt(comp.image), (trials, 1, n_images))
    e = rng.normal(0.0, math.sqrt(comp.residual), (trials, n_seeds, n_images))
    d = a + b + e
    return d.mean(axis=(1, 2)), crossed_variance(d)


def min_detectable_effect(
    comp: Components,
    n_seeds: int,
    n_images: int,
    power: float = 0.8,
    alpha: float = 1.0 - LEVEL,
    trials: int = 20000,
    seed: int = 0,
) -> float:
    """The smallest true effect the two-sided crossed t-test at ``alpha`` detects with probability
    ``power`` (in the components' unit; NaN when all components are 0)."""
    if n_seeds < 2:
        raise ValueError("the crossed test needs at least 2 seeds")
    means, var = null_draws(comp, n_seeds, n_images, trials, seed)
    crit = stats.t.ppf(1.0 - alpha / 2.0, crossed_df(n_seeds, n_images)) * np.sqrt(var)
    if not np.any(crit > 0):
        return math.nan

    def rate(delta: float) -> float:
        return float(np.mean(np.abs(means + delta) > crit))

    low, high = 0.0, float(np.quantile(crit, 0.999) + 10 * np.abs(means).max() + 1e-12)
    for _ in range(60):
        mid = (low + high) / 2.0
        low, high = (mid, high) if rate(mid) < power else (low, mid)
    return high


def components_from_mean_squares(
    ms_seed: float, ms_image: float, ms_res: float, n_seeds: int, n_images: int
) -> Components:
    """Variance components estimated from a measured ``(S, I)`` matrix's mean squares
    (:func:`replication.stats.verdicts.crossed_components`), by their expectations in the crossed model:
    E[MS_seed] = res + I * seed, E[MS_image] = res + S * image, E[MS_res] = res (negative estimates are 0)."""
    return Components(
        seed=max((ms_seed - ms_res) / n_images, 0.0),
        image=max((ms_image - ms_res) / n_seeds, 0.0),
        residual=max(ms_res, 0.0),
    )
