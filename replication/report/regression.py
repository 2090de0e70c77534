"""Metric regression gate: compare a run's mean metrics with committed expected values.

The expected file (JSON) holds, for the deterministic parts of a profile (bicubic and official
weights; trained variants too where CPU training is bit-reproducible), the mean of each metric over
the images of each (model, source, dataset, subset)::

    {"schema": 1, "profile": "smoke", "note": "...",
     "tolerance": {"abs": 1e-3, "rel": 1e-3},            # default for every metric
     "metric_tolerance": {"niqe": {"abs": 0.01, "rel": 0}},  # optional per-metric override
     "entries": [{"model": "bicubic", "source": "bicubic", "dataset": "realsrset",
                  "subset": "smallest 3 of 20", "metric": "niqe", "lower_better": true,
                  "n": 3, "mean": 6.1234}, ...]}

A value moved when ``|got - expected| > abs + rel * |expected|``. A move in the worse direction is a
regression; a move in the better direction also fails by default (``fail_on="any"``), because a
deterministic result that changes means the code changed behaviour and the expected file must be
updated on purpose (``replication check-metrics --write``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from replication.artifacts.metrics_table import summarise
from replication.errors import UserError
from replication.fsutil import write_text_atomic

SCHEMA = 1
ENTRY_KEY = ("model", "source", "dataset", "subset", "metric")
DEFAULT_ABS = 1e-3
DEFAULT_REL = 1e-3

Status = Literal["ok", "worse", "better", "missing", "count", "new"]
FAILING: dict[str, frozenset[str]] = {
    "any": frozenset({"worse", "better", "missing", "count"}),
    "worse": frozenset({"worse", "missing", "count"}),
}


@dataclass(frozen=True)
class Tolerance:
    abs: float
    rel: float

    def allowed(self, expected: float) -> float:
        return self.abs + self.rel * abs(expected)


@dataclass(frozen=True)
class Expected:
    profile: str
    note: str
    tolerance: Tolerance
    metric_tolerance: dict[str, Tolerance]
    entries: pd.DataFrame  # columns ENTRY_KEY + lower_better, n, mean

    def tolerance_for(self, metric: str) -> Tolerance:
        return self.metric_tolerance.get(metric, self.tolerance)


def _tolerance(data: object, where: str) -> Tolerance:
    if not isinstance(data, dict) or set(data) != {"abs", "rel"}:
        raise UserError(f"{where}: expected a mapping with keys abs and rel, got {data!r}")
    try:
        tol = Tolerance(abs=float(data["abs"]), rel=float(data["rel"]))
    except (TypeError, ValueError):
        raise UserError(f"{where}: abs and rel must be numbers, got {data!r}") from None
    if not (0 <= tol.abs < math.inf and 0 <= tol.rel < math.inf):  # NaN/inf would pass every change
        raise UserError(f"{where}: tolerances must be finite and >= 0, got {data!r}")
    return tol


def load_expected(path: str | os.PathLike) -> Expected:
    """Read and validate an expected-metrics file; errors name the file and the bad key."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: expected-metrics file not found") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: invalid JSON: {exc}") from None
    except (UnicodeDecodeError, RecursionError, IsADirectoryError) as exc:
        raise UserError(f"{path}: not a readable expected-metrics JSON file ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object at the top level")
    allowed = {"schema", "profile", "note", "tolerance", "metric_tolerance", "entries"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise UserError(f"{path}: {unknown[0]}: unknown key (allowed: {', '.join(sorted(allowed))})")
    if data.get("schema") != SCHEMA:
        raise UserError(f"{path}: schema: expected {SCHEMA}, got {data.get('schema')!r}")
    for key in ("profile", "tolerance", "entries"):
        if key not in data:
            raise UserError(f"{path}: {key}: missing key")
    tolerance = _tolerance(data["tolerance"], f"{path}: tolerance")
    metric_tolerance = {
        str(m): _tolerance(t, f"{path}: metric_tolerance.{m}") for m, t in data.get("metric_tolerance", {}).items()
    }
    rows = []
    for i, entry in enumerate(data["entries"]):
        where = f"{path}: entries[{i}]"
        need = (*ENTRY_KEY, "lower_better", "n", "mean")
        if not isinstance(entry, dict) or sorted(entry) != sorted(need):
            raise UserError(f"{where}: expected exactly the keys {', '.join(need)}")
        if not isinstance(entry["lower_better"], bool) or not isinstance(entry["n"], int):
            raise UserError(f"{where}: lower_better must be true/false and n an integer")
        mean = entry["mean"]
        if mean is not None and (not isinstance(mean, (int, float)) or not math.isfinite(mean)):
            raise UserError(f"{where}: mean must be a finite number or null, got {mean!r}")
        rows.append({**entry, "mean": math.nan if mean is None else float(mean)})
    entries = pd.DataFrame(rows, columns=[*ENTRY_KEY, "lower_better", "n", "mean"])
    if entries.duplicated(subset=list(ENTRY_KEY)).any():
        dup = entries[entries.duplicated(subset=list(ENTRY_KEY))].iloc[0]
        raise UserError(f"{path}: duplicate entry {', '.join(f'{k}={dup[k]}' for k in ENTRY_KEY)}")
    return Expected(str(data["profile"]), str(data.get("note", "")), tolerance, metric_tolerance, entries)


def _status(expected: float, got: float, lower_better: bool, tol: Tolerance) -> tuple[Status, float]:
    if math.isnan(expected) and math.isnan(got):
        return "ok", 0.0
    if math.isnan(expected) or math.isnan(got):
        return "worse", math.nan  # a metric that became (un)defined is a behaviour change
    delta = got - expected
    if abs(delta) <= tol.allowed(expected):
        return "ok", delta
    worse = delta > 0 if lower_better else delta < 0
    return ("worse" if worse else "better"), delta


def compare(expected: Expected, tidy: pd.DataFrame, override: Tolerance | None = None) -> pd.DataFrame:
    """One row per expected entry (plus ``new`` rows for results not in the expected file).

    Columns: ENTRY_KEY..., expected, got, delta, allowed, n_expected, n_got, status.
    ``override`` replaces every tolerance of the file (the ``--tolerance`` flags).
    """
    profiles = sorted(set(tidy["profile"]))
    if profiles and profiles != [expected.profile]:
        raise UserError(
            f"the results are of profile(s) {', '.join(profiles)} but the expected values are of profile "
            f"{expected.profile!r}; compare like with like"
        )
    got = summarise(tidy).set_index(list(ENTRY_KEY))  # the report's means, without the bootstrap
    rows = []
    seen = set()
    for entry in expected.entries.itertuples(index=False):
        key = tuple(getattr(entry, k) for k in ENTRY_KEY)
        seen.add(key)
        tol = override or expected.tolerance_for(entry.metric)
        row = dict(
            zip(ENTRY_KEY, key, strict=True), expected=entry.mean, n_expected=entry.n, allowed=tol.allowed(entry.mean)
        )
        if key not in got.index:
            rows.append({**row, "got": math.nan, "delta": math.nan, "n_got": 0, "status": "missing"})
            continue
        res = got.loc[key]
        status, delta = _status(entry.mean, float(res["mean"]), bool(entry.lower_better), tol)
        n_got = int(res["n"])
        if status == "ok" and n_got != entry.n:
            status = "count"
        rows.append({**row, "got": float(res["mean"]), "delta": delta, "n_got": n_got, "status": status})
    for key, res in got.iterrows():
        if key not in seen:
            rows.append(
                dict(
                    zip(ENTRY_KEY, key, strict=True),
                    expected=math.nan,
                    got=float(res["mean"]),
                    delta=math.nan,
                    allowed=math.nan,
                    n_expected=0,
                    n_got=int(res["n"]),
                    status="new",
                )
            )
    cols = [*ENTRY_KEY, "expected", "got", "delta", "allowed", "n_expected", "n_got", "status"]
    return pd.DataFrame(rows, columns=cols)


def failed(table: pd.DataFrame, fail_on: Literal["any", "worse"] = "any") -> bool:
    return bool(table["status"].isin(FAILING[fail_on]).any())


def format_table(table: pd.DataFrame, only_moved: bool = True) -> str:
    """A fixed-width text table (the rows that moved, or all)."""
    shown = table[table["status"] != "ok"] if only_moved else table
    if shown.empty:
        return "(nothing moved)"
    shown = shown.copy()
    for col in ("expected", "got", "delta", "allowed"):
        fmt = "{:+.6g}" if col == "delta" else "{:.6g}"
        shown[col] = shown[col].map(lambda v, fmt=fmt: "-" if pd.isna(v) else fmt.format(v))
    return shown.to_string(index=False)


def expected_from_results(
    tidy: pd.DataFrame,
    sources: tuple[str, ...] | None,
    tolerance: Tolerance,
    note: str,
    metric_tolerance: dict[str, Tolerance] | None = None,
) -> dict:
    """The expected-file content for ``tidy`` restricted to ``sources`` (None: every source)."""
    profiles = sorted(set(tidy["profile"]))
    if len(profiles) != 1:
        raise UserError(f"the results mix profiles ({', '.join(profiles)}); write one profile at a time")
    if sources is not None:
        tidy = tidy[tidy["source"].isin(sources)]
        if tidy.empty:
            raise UserError(f"no results with source in {', '.join(sources)}")
    m = summarise(tidy)
    entries = [
        {
            **{k: str(r[k]) for k in ENTRY_KEY},
            "lower_better": bool(r["lower_better"]),
            "n": int(r["n"]),
            "mean": None if pd.isna(r["mean"]) else float(r["mean"]),
        }
        for _, r in m.iterrows()
    ]
    out = {
        "schema": SCHEMA,
        "profile": profiles[0],
        "note": note,
        "tolerance": {"abs": tolerance.abs, "rel": tolerance.rel},
    }
    if metric_tolerance:
        out["metric_tolerance"] = {k: {"abs": t.abs, "rel": t.rel} for k, t in sorted(metric_tolerance.items())}
    out["entries"] = entries
    return out


def write_expected(path: str | os.PathLike, content: dict) -> None:
    write_text_atomic(path, json.dumps(content, indent=1) + "\n")
