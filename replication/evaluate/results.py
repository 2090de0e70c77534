"""Tidy metric tables and their summaries with bootstrap confidence intervals.

Long format (docs/CONTRACTS.md), one row per (model, test set, image, metric)::

    model, source, profile, dataset, subset, image, metric, value, lower_better

:func:`combine` concatenates tidy CSVs into one table (CSV, or Parquet when pyarrow is installed);
:func:`summarise` gives one row per (model, source, profile, dataset, subset, metric) with the mean
over images and its 95% percentile-bootstrap confidence interval (resampling images with
replacement, ``evaluate.bootstrap_samples`` resamples, a seeded NumPy generator, so the interval is
reproducible bit for bit).

Command line: ``python -m replication.evaluate.results RESULTS_DIR --long all.csv --summary summary.csv``.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from replication.errors import UserError
from replication.fsutil import atomic_path, write_text_atomic

TIDY_COLUMNS = ("model", "source", "profile", "dataset", "subset", "image", "metric", "value", "lower_better")
GROUP_KEY = ("model", "source", "profile", "dataset", "subset", "metric")
SUMMARY_COLUMNS = (*GROUP_KEY, "lower_better", "n", "n_nan", "mean", "std", "ci_low", "ci_high")


@dataclass(frozen=True)
class TidyRow:
    model: str
    source: str
    profile: str
    dataset: str
    subset: str
    image: str
    metric: str
    value: float
    lower_better: bool


def format_value(value: float) -> str:
    """Full-precision text of a metric value ('nan' for an undefined one)."""
    return "nan" if math.isnan(value) else repr(float(value))


def tidy_csv_text(rows: Iterable[TidyRow]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(TIDY_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r.model,
                r.source,
                r.profile,
                r.dataset,
                r.subset,
                r.image,
                r.metric,
                format_value(r.value),
                "true" if r.lower_better else "false",
            ]
        )
    return buf.getvalue()


def write_tidy_csv(rows: Iterable[TidyRow], path: str | os.PathLike) -> Path:
    """Write the rows atomically (a crash leaves the previous file, never a truncated one)."""
    path = Path(path)
    write_text_atomic(path, tidy_csv_text(rows))
    return path


def subset_label(n_used: int, n_total: int) -> str:
    """``full`` or ``smallest N of M`` (the N images with the fewest pixels, see runner.select_images)."""
    return "full" if n_used >= n_total else f"smallest {n_used} of {n_total}"


def bootstrap_ci(
    values: Sequence[float] | np.ndarray, n_samples: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean of ``values`` (NaNs must be removed).

    Resamples ``len(values)`` values with replacement ``n_samples`` times with
    ``numpy.random.default_rng(seed)`` and returns the (1-level)/2 and (1+level)/2 quantiles of the
    resampled means. A single value (or a constant sample) gives a zero-width interval.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("bootstrap_ci needs a non-empty 1-D sample")
    if np.isnan(x).any():
        raise ValueError("bootstrap_ci: remove NaN values first")
    if n_samples < 1:
        raise ValueError(f"bootstrap_ci: n_samples must be >= 1, got {n_samples}")
    rng = np.random.default_rng(seed)
    means = np.empty(n_samples)
    chunk = max(1, 2_000_000 // x.size)  # bound memory: resample in chunks of index matrices
    for start in range(0, n_samples, chunk):
        stop = min(n_samples, start + chunk)
        idx = rng.integers(0, x.size, size=(stop - start, x.size))
        means[start:stop] = x[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    # Rounding of the means can put the bounds a hair outside [min, max] of a constant sample.
    return float(min(low, high)), float(max(low, high))


def read_tables(sources: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate tidy CSV files (or every ``*.csv`` below directories); validated by the report's reader."""
    from replication.report.tidy import read_tidy

    return read_tidy(sources)


def summarise(df: pd.DataFrame, n_samples: int, seed: int) -> pd.DataFrame:
    """One row per (model, source, profile, dataset, subset, metric): n, n_nan, mean, std, 95% CI.

    NaN values (e.g. NIQE of an image too small for it) are counted in ``n_nan`` and left out.
    Every group is resampled with the same ``seed``, so adding a group never changes another's CI.
    """
    missing = [c for c in TIDY_COLUMNS if c not in df.columns]
    if missing:
        raise UserError(f"not a tidy metrics table: missing column(s) {', '.join(missing)}")
    out = []
    for key, group in df.groupby(list(GROUP_KEY), sort=True):
        values = group["value"].to_numpy(dtype=np.float64)
        finite = values[~np.isnan(values)]
        directions = group["lower_better"].unique()
        if len(directions) != 1:
            raise UserError(f"metric {key[-1]!r}: mixed lower_better flags")
        if finite.size:
            mean = float(finite.mean())
            std = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
            low, high = bootstrap_ci(finite, n_samples, seed)
        else:
            mean = std = low = high = math.nan
        out.append((*key, bool(directions[0]), int(finite.size), int(values.size - finite.size), mean, std, low, high))
    return pd.DataFrame(out, columns=list(SUMMARY_COLUMNS))


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """CSV, or Parquet for a ``.parquet`` path (needs pyarrow), written atomically."""
    path = Path(path)
    if path.suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UserError(f"{path}: writing Parquet needs pyarrow (pip install pyarrow); use .csv") from None
        with atomic_path(path) as tmp:
            df.to_parquet(tmp, index=False)
    else:
        write_text_atomic(path, df.to_csv(index=False, lineterminator="\n"))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m replication.evaluate.results",
        description="combine tidy metric CSVs and summarise them (mean, 95%% bootstrap CI)",
    )
    parser.add_argument("sources", nargs="+", help="tidy CSV files or directories (searched recursively)")
    parser.add_argument("--long", type=Path, help="write the combined long table here (.csv or .parquet)")
    parser.add_argument("--summary", type=Path, help="write the summary table here (.csv or .parquet)")
    parser.add_argument(
        "--params",
        type=Path,
        default=Path("params.yaml"),
        help="params.yaml giving evaluate.bootstrap_samples and evaluate.seed",
    )
    parser.add_argument("--profile", help="profile of params.yaml to use (default: the file's active one)")
    args = parser.parse_args(argv)
    from replication.params import load_params

    try:
        cfg = load_params(args.params, args.profile).active.evaluate
        df = read_tables(args.sources)
        if args.long:
            write_table(df, args.long)
        summary = summarise(df, cfg.bootstrap_samples, cfg.seed)
        if args.summary:
            write_table(summary, args.summary)
    except UserError as exc:
        print(f"error: {exc}")
        return 2
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
