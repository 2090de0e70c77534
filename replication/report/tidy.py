"""Reading the tidy metric tables that ``replication evaluate`` writes (one CSV per model × test set).

Schema (docs/CONTRACTS.md), long format, one row per (model, test set, image, metric)::

    model, source, profile, dataset, subset, image, metric, value, lower_better

A file with other columns, an unparsable value or a mixed-up ``lower_better`` flag is an error naming
the file, so a report or a regression check never silently drops data.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from replication.errors import UserError

TIDY_COLUMNS = ("model", "source", "profile", "dataset", "subset", "image", "metric", "value", "lower_better")
KEY = ("model", "source", "profile", "dataset", "subset", "metric")  # one summary row per key
_TEXT = ("model", "source", "profile", "dataset", "subset", "image", "metric")


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
    dup = df.duplicated(subset=[*KEY, "image"], keep=False)
    if dup.any():
        row = df[dup].iloc[0]
        raise UserError(
            f"the same measurement appears twice ({', '.join(f'{k}={row[k]}' for k in (*KEY, 'image'))}); "
            f"check {', '.join(map(str, files))} for copies"
        )
    return df


def means(df: pd.DataFrame) -> pd.DataFrame:
    """Mean over images per key (NaN values, e.g. NIQE of a too-small image, are left out and counted).

    Columns: KEY..., lower_better, n (images with a finite value), n_nan, mean.
    """
    grouped = df.groupby(list(KEY), sort=True, dropna=False)
    out = grouped.agg(
        lower_better=("lower_better", "first"),
        n=("value", lambda v: int(v.notna().sum())),
        n_nan=("value", lambda v: int(v.isna().sum())),
        mean=("value", "mean"),
    )
    return out.reset_index()
