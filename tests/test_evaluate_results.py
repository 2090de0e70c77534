"""Tidy tables, bootstrap confidence intervals and summaries."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from replication.artifacts.metrics_table import (
    SUMMARY_COLUMNS,
    TIDY_COLUMNS,
    TidyRow,
    bootstrap_ci,
    read_tidy,
    subset_label,
    summarise,
    write_table,
    write_tidy_csv,
)


def test_constant_sample_gives_a_zero_width_interval():
    low, high = bootstrap_ci([4.2] * 17, n_samples=500, seed=0)
    assert low == pytest.approx(4.2, abs=1e-12) and high == pytest.approx(4.2, abs=1e-12)
    assert bootstrap_ci([3.0], n_samples=10, seed=0) == (3.0, 3.0)


def test_large_normal_sample_matches_the_normal_approximation():
    rng = np.random.default_rng(123)
    x = rng.normal(5.0, 2.0, size=4000)
    low, high = bootstrap_ci(x, n_samples=2000, seed=7)
    half = 1.96 * x.std(ddof=1) / math.sqrt(x.size)
    assert (low + high) / 2 == pytest.approx(x.mean(), abs=0.1 * half)
    assert (high - low) / 2 == pytest.approx(half, rel=0.1)


def test_bootstrap_is_reproducible_and_seed_dependent():
    x = np.arange(10.0) ** 1.5
    assert bootstrap_ci(x, 300, seed=1) == bootstrap_ci(x, 300, seed=1)
    assert bootstrap_ci(x, 300, seed=1) != bootstrap_ci(x, 300, seed=2)
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_ci([1.0, float("nan")], 10, seed=0)


def test_subset_label():
    assert subset_label(3, 20) == "smallest 3 of 20"
    assert subset_label(20, 20) == "full"


def _rows(model: str, values: list[float], metric: str = "niqe") -> list[TidyRow]:
    return [
        TidyRow(
            model,
            "bicubic" if model == "bicubic" else "official",
            "smoke",
            "realsrset",
            "first 3 of 20",
            f"im{i}.png",
            metric,
            v,
            True,
        )
        for i, v in enumerate(values)
    ]


def test_tidy_round_trip_combine_and_summary(tmp_path):
    write_tidy_csv(_rows("bicubic", [7.0, 8.0, float("nan")]), tmp_path / "a" / "bicubic.csv")
    write_tidy_csv(_rows("RealESRGAN_x4plus", [4.0, 4.0, 4.0]), tmp_path / "b.csv")
    df = read_tidy([tmp_path])
    assert list(df.columns) == list(TIDY_COLUMNS) and len(df) == 6
    summary = summarise(df, n_samples=200, seed=0)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    bic = summary[summary.model == "bicubic"].iloc[0]
    assert (bic.n, bic.n_nan, bic["mean"]) == (2, 1, 7.5)
    assert 7.0 <= bic.ci_low <= bic.ci_high <= 8.0
    ours = summary[summary.model == "RealESRGAN_x4plus"].iloc[0]
    assert ours.ci_low == pytest.approx(4.0) and ours.ci_high == pytest.approx(4.0)
    assert bool(ours.lower_better) is True
    out = write_table(summary, tmp_path / "summary.csv")
    assert pd.read_csv(out).shape == summary.shape
    pytest.importorskip("pyarrow")
    assert pd.read_parquet(write_table(df, tmp_path / "long.parquet")).shape == df.shape
