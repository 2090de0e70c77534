"""The tidy metrics table: one row per (model, test set, image, metric), its schema, writer, reader and summary.

``replication evaluate`` and ``replication metrics`` write it (one CSV per model × test set, under
``results/<model>/<dataset>/metrics.csv``); the report, the regression gate and
``python -m replication.evaluate.results`` read it. Columns, in this order::

    model, source, profile, dataset, subset, image, metric, value, lower_better

``value`` is written at full precision (``repr``; ``nan`` for an undefined value, e.g. NIQE of an image
too small for it), ``lower_better`` as ``true``/``false``. A file with other columns, an unparsable value
or a mixed-up ``lower_better`` flag is an error naming the file, so nothing is silently dropped.

:func:`summarise` is the ONE reduction to means: one row per (model, source, profile, dataset, subset,
metric) with ``n``, ``n_nan``, ``mean``, ``std`` and a 95% percentile-bootstrap interval of the mean
(resampling images with replacement with a seeded NumPy generator, so the interval is reproducible bit
for bit). The report prints it and the regression gate compares its ``mean`` and ``n``.
"""

from __future__ import annotations

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
GROUP_KEY = ("model", "source", "profile", "dataset", "subset", "metric")  # one summary row per key
SUMMARY_COLUMNS = (*GROUP_KEY, "lower_better", "n", "n_nan", "mean", "std", "ci_low", "ci_high")
_TEXT = ("model", "source", "profile", "dataset", "subset", "image", "metric")


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


def subset_label(n_used: int, n_total: int, selection: str = "smallest", seed: int = 0) -> str:
    """``full``, ``smallest N of M`` (the N images with the fewest pixels) or ``random N of M (seed S)``
    (see runner.select_images)."""
    if n_used >= n_total:
        return "full"
    return (
        f"smallest {n_used} of {n_total}" if selection == "smallest" else f"random {n_used} of {n_total} (seed {seed})"
    )


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


def _parse_bool(series: pd.Series, path: Path) -> pd.Series:
    text = series.astype(str).str.strip().str.lower()
    known = {"true": True, "1": True, "false": False, "0": False}
    bad = sorted(set(text) - set(known))
    if bad:
        raise UserError(f"{path}: column lower_better: expected true/false, got {bad[0]!r}")
    return text.map(known).astype(bool)


def read_tidy_csv(path: str | os.PathLike) -> pd.DataFrame:
    """One tidy CSV as a DataFrame with typed columns (``value`` float, ``lower_better`` bool)."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise UserError(f"{path}: metrics file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a readable CSV file ({exc})") from None
    missing = [c for c in TIDY_COLUMNS if c not in df.columns]
    if missing:
        raise UserError(
            f"{path}: not a tidy metrics table: missing column(s) {', '.join(missing)} "
            f"(expected {', '.join(TIDY_COLUMNS)})"
        )
    df = df[list(TIDY_COLUMNS)].copy()
    values = pd.to_numeric(df["value"].replace({"": "nan"}), errors="coerce")
    bad = df["value"][values.isna() & ~df["value"].str.lower().isin(["", "nan"])]
    if len(bad):
        raise UserError(f"{path}: column value: {bad.iloc[0]!r} is not a number")
    df["value"] = values.astype(float)
    df["lower_better"] = _parse_bool(df["lower_better"], path)
    for col in _TEXT:
        df[col] = df[col].astype(str)
    directions = df.groupby("metric")["lower_better"].nunique()
    if (directions > 1).any():
        raise UserError(f"{path}: metric {directions[directions > 1].index[0]!r} has both lower_better values")
    return df


def find_tidy_files(root: str | os.PathLike) -> list[Path]:
    """Every ``*.csv`` below ``root`` (sorted), or ``root`` itself if it is a file."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise UserError(f"{root}: results directory not found")
    return sorted(p for p in root.rglob("*.csv") if p.is_file())


def read_tidy(sources: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate the tidy tables of the given files or directories (searched recursively)."""
    files = [f for src in sources for f in find_tidy_files(src)]
    if not files:
        raise UserError(f"no metrics CSV files found in {', '.join(map(str, sources))}")
    frames = [read_tidy_csv(f) for f in files]
    df = pd.concat(frames, ignore_index=True)
    dup = df.duplicated(subset=[*GROUP_KEY, "image"], keep=False)
    if dup.any():
        row = df[dup].iloc[0]
        raise UserError(
            f"the same measurement appears twice ({', '.join(f'{k}={row[k]}' for k in (*GROUP_KEY, 'image'))}); "
            f"check {', '.join(map(str, files))} for copies"
        )
    return df


def summarise(df: pd.DataFrame, n_samples: int = 0, seed: int = 0) -> pd.DataFrame:
    """One row per (model, source, profile, dataset, subset, metric): n, n_nan, mean, std, 95% CI.

    NaN values (e.g. NIQE of an image too small for it) are counted in ``n_nan`` and left out.
    Every group is resampled with the same ``seed``, so adding a group never changes another's CI.
    ``n_samples=0`` skips the bootstrap (``ci_low``/``ci_high`` NaN): the regression gate needs only means.
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
            low, high = bootstrap_ci(finite, n_samples, seed) if n_samples else (math.nan, math.nan)
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
