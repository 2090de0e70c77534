"""Tests behind the claim verdicts (docs/claims.md explains the choices).

A paired comparison of two trained variants is a ``(seeds, images)`` matrix of differences ``d[s, i]``
(same seed index, same image). Seeds and images are *crossed*: every seed is scored on the same
images, so an image that is hard for one seed is hard for all of them. The model behind the test is

    d[s, i] = mu + a[s] + b[i] + e[s, i],   a ~ (0, var_seed), b ~ (0, var_image), e ~ (0, var_res)

and the grand mean estimates ``mu`` with variance ``var_seed / S + var_image / I + var_res / (S I)``.
The two-way ANOVA mean squares have expectations ``E[MS_seed] = I var_seed + var_res``,
``E[MS_image] = S var_image + var_res`` and ``E[MS_res] = var_res``, so

    V = [MS_seed + max(MS_image - MS_res, 0)] / (S I)

estimates that variance (the ``max`` keeps it positive and errs on the wide side). The interval is a
t-interval with ``df = min(S - 1, I - 1)``: the fewer of the two replicated levels bounds what the
data can say about their variances. A matrix whose image effects are not shared across seeds (a
*nested* design) is covered as well: then ``MS_image`` estimates only ``var_res`` and ``V`` reduces
to the between-seed variance of the seed means. tests/test_stats_calibration.py checks by simulation
that both designs keep the false-verdict rate at the nominal level.

A measure with one value per run (training instability) is a one-sample t-test of the per-seed
differences (``S - 1`` df); a difference in seed spread is an F test of the two seed variances
(``S_a - 1``, ``S_b - 1`` df). :func:`holm` is the Holm step-down adjustment.

Everything takes leading batch dimensions, so a simulation runs thousands of trials in one call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95


@dataclass(frozen=True)
class TestResult:
    """One line's statistics. ``effect`` is oriented by the caller; ``null`` is the value of no
    difference (0 for a difference, 1 for a ratio of standard deviations)."""

    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    df: float
    n_seeds: int
    n_images: int
    method: str
    null: float = 0.0
    # (MS_seed, MS_image, MS_residual) of a crossed test's matrix: the variance components its power
    # is computed from (replication.stats.mde); None for the other tests.
    mean_squares: tuple[float, float, float] | None = None


def crossed_components(diff: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean squares (seed, image, residual) of ``(..., S, I)`` matrices (two-way ANOVA, no replication)."""
    d = np.asarray(diff, dtype=np.float64)
    s, i = d.shape[-2:]
    grand = d.mean(axis=(-2, -1), keepdims=True)
    seed_means = d.mean(axis=-1, keepdims=True)
    image_means = d.mean(axis=-2, keepdims=True)
    ms_seed = i * ((seed_means - grand) ** 2).sum(axis=(-2, -1)) / max(s - 1, 1)
    ms_image = s * ((image_means - grand) ** 2).sum(axis=(-2, -1)) / max(i - 1, 1)
    resid = d - seed_means - image_means + grand
    ms_res = (resid**2).sum(axis=(-2, -1)) / max((s - 1) * (i - 1), 1)
    return ms_seed, ms_image, ms_res


def crossed_variance(diff: np.ndarray) -> np.ndarray:
    """V, the estimated variance of the grand mean of ``(..., S, I)`` matrices (module docstring)."""
    d = np.asarray(diff, dtype=np.float64)
    s, i = d.shape[-2:]
    ms_seed, ms_image, ms_res = crossed_components(d)
    if i == 1:  # one image: only the seed level is replicated
        return ms_seed / s
    return (ms_seed + np.maximum(ms_image - ms_res, 0.0)) / (s * i)


def crossed_df(n_seeds: int, n_images: int) -> int:
    """Degrees of freedom of the crossed t-interval: ``min(S - 1, I - 1)`` (``S - 1`` with one image)."""
    return n_seeds - 1 if n_images == 1 else min(n_seeds - 1, n_images - 1)


def _t_stats(effect: np.ndarray, var: np.ndarray, df: float, level: float) -> tuple[np.ndarray, ...]:
    se = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, effect / np.where(se > 0, se, 1.0), np.where(effect == 0, 0.0, np.inf))
    p = 2.0 * stats.t.sf(np.abs(t), df)
    half = stats.t.ppf(0.5 + level / 2.0, df) * se
    return effect - half, effect + half, p


def crossed_test_batch(diff: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, ...]:
    """(effect, ci_low, ci_high, p) of ``(..., S, I)`` difference matrices, vectorised; needs S >= 2."""
    d = np.asarray(diff, dtype=np.float64)
    s, i = d.shape[-2:]
    if s < 2:
        raise ValueError(f"a crossed test needs at least 2 seeds, got {s}")
    effect = d.mean(axis=(-2, -1))
    low, high, p = _t_stats(effect, crossed_variance(d), crossed_df(s, i), level)
    return effect, low, high, p


def crossed_test(diff: np.ndarray, level: float = LEVEL) -> TestResult:
    """The crossed seeds x images t-test of one ``(S, I)`` matrix of oriented paired differences."""
    d = _matrix(diff)
    effect, low, high, p = crossed_test_batch(d, level)
    s, i = d.shape
    ms_seed, ms_image, ms_res = crossed_components(d)
    ms = (float(ms_seed), float(ms_image), float(ms_res))
    return TestResult(float(effect), float(low), float(high), float(p), crossed_df(s, i), s, i, "crossed t", 0.0, ms)


def seed_t_test(per_seed: np.ndarray, level: float = LEVEL) -> TestResult:
    """One-sample t-test of per-seed differences (one value per run), ``S - 1`` df."""
    x = np.asarray(per_seed, dtype=np.float64).ravel()
    if x.size < 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"a per-seed t-test needs at least 2 finite values, got {x.tolist()}")
    effect = x.mean()
    low, high, p = _t_stats(np.asarray(effect), np.asarray(x.var(ddof=1) / x.size), x.size - 1, level)
    return TestResult(float(effect), float(low), float(high), float(p), x.size - 1, x.size, 1, "per-seed t")


def spread_f_test(variant_seed_means: np.ndarray, reference_seed_means: np.ndarray, level: float = LEVEL) -> TestResult:
    """F test of the seed variances of two models' per-seed means (independent runs).

    The effect is the ratio of standard deviations ``sd(variant) / sd(reference)`` (> 1: the reference
    varies less from seed to seed), with its exact CI from the F distribution; two-sided p-value."""
    a = np.asarray(variant_seed_means, dtype=np.float64).ravel()
    b = np.asarray(reference_seed_means, dtype=np.float64).ravel()
    if a.size < 2 or b.size < 2:
        raise ValueError(f"an F test needs at least 2 seeds per model, got {a.size} and {b.size}")
    va, vb = a.var(ddof=1), b.var(ddof=1)
    d1, d2 = a.size - 1, b.size - 1
    if vb == 0:
        ratio = math.inf if va > 0 else 1.0
        return TestResult(ratio, math.nan, math.nan, 0.0 if va > 0 else 1.0, d1, min(a.size, b.size), 1, "F", 1.0)
    f = va / vb
    p = float(min(1.0, 2.0 * min(stats.f.cdf(f, d1, d2), stats.f.sf(f, d1, d2))))
    alpha = 1.0 - level
    low = math.sqrt(f / stats.f.ppf(1.0 - alpha / 2.0, d1, d2))
    high = math.sqrt(f / stats.f.ppf(alpha / 2.0, d1, d2))
    return TestResult(math.sqrt(f), low, high, p, d1, min(a.size, b.size), 1, "F", 1.0)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN entries stay NaN and do not count as tests)."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _matrix(values: np.ndarray) -> np.ndarray:
    d = np.asarray(values, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] < 1 or d.shape[1] < 1:
        raise ValueError(f"expected a non-empty (seeds, images) matrix, got shape {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError("non-finite values in the (seeds, images) matrix; drop the undefined images first")
    return d
