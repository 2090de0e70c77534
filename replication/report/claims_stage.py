"""The ``claims`` stage: the verdict table (claims.csv, :data:`replication.report.claims.CSV_COLUMNS`)
from tidy per-image metrics and, when given, the training logs. ``replication claims`` and the report
stage both call :func:`compute_claims`, so the two tables are the same bytes.

Inputs: ``results`` (a folder of tidy metric CSVs, or one tidy file, e.g. a report's ``tidy.csv.gz``),
``runs`` (a runs folder with DVCLive logs, or a report's ``curves.tsv``; optional), ``params.yaml``
(each variant's training degradation and the main synthetic set's) and the claims definition.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from replication.artifacts.metrics_table import format_value, read_tidy
from replication.errors import UserError
from replication.fsutil import write_text_atomic
from replication.params import Params
from replication.report.claims import Context, LineResult, claims_csv_text, verdict_lines
from replication.report.claims_def import ClaimsDef, load_claims
from replication.report.curves import Curve, find_curves


def read_curves_tsv(path: str | os.PathLike) -> list[Curve]:
    """The curves of a report's ``curves.tsv`` (``curve`` = ``<phase>/<name>``, ``variant`` = run)."""
    path = Path(path)
    try:
        df = pd.read_csv(path, sep="\t", dtype={"curve": str, "variant": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UserError(f"{path}: not a readable curves table ({exc})") from None
    missing = {"curve", "variant", "step", "value"} - set(df.columns)
    if missing:
        raise UserError(f"{path}: not a curves table: missing column(s) {', '.join(sorted(missing))}")
    out = []
    for (curve, run), part in df.groupby(["curve", "variant"], sort=True):
        phase, _, name = str(curve).partition("/")
        part = part.sort_values("step")
        out.append(
            Curve(str(run), phase, name, tuple(int(s) for s in part["step"]), tuple(float(v) for v in part["value"]))
        )
    return out


def load_curves(runs: Path | None) -> list[Curve] | None:
    """Training logs from a runs folder or a curves.tsv file; None when not given."""
    if runs is None:
        return None
    if runs.is_file():
        return read_curves_tsv(runs)
    if not runs.is_dir():
        raise UserError(f"{runs}: runs folder (or curves.tsv) not found")
    return find_curves(runs)


def context(params: Params, curves: list[Curve] | None) -> Context:
    return Context(
        variant_degradation={name: v.degradation for name, v in params.variants.items()},
        val_degradation=params.active.validation.variant,
        curves=curves,
    )


def compute_claims(params: Params, defn: ClaimsDef, tidy: pd.DataFrame, curves: list[Curve] | None) -> list[LineResult]:
    """Every declared claim line on these metrics and logs (:func:`replication.report.claims.verdict_lines`)."""
    return verdict_lines(tidy, tuple(params.variants), defn, context(params, curves))


def load_definition(path: Path, params: Params) -> ClaimsDef:
    defn = load_claims(path)
    defn.check_variants(set(params.variants), str(path))
    return defn


@dataclass(frozen=True)
class ClaimsPaths:
    results: Path
    claims: Path = Path("claims.yaml")
    runs: Path | None = None
    out: Path = Path("claims.csv")


def claims(params: Params, paths: ClaimsPaths) -> list[LineResult]:
    """Write ``paths.out`` (claims.csv) and return its lines."""
    defn = load_definition(paths.claims, params)
    lines = compute_claims(params, defn, read_tidy([paths.results]), load_curves(paths.runs))
    write_text_atomic(paths.out, claims_csv_text(lines))
    return lines


def tidy_gzip_bytes(tidy: pd.DataFrame) -> bytes:
    """The per-image metrics as a gzip-compressed tidy CSV (full-precision values, rows sorted; gzip
    header without a time stamp, so equal tables give equal bytes with the same zlib)."""
    keys = ["model", "source", "profile", "dataset", "subset", "metric", "image"]
    df = tidy.sort_values(keys, kind="stable").reset_index(drop=True)
    df = df.assign(
        value=df["value"].map(format_value), lower_better=df["lower_better"].map(lambda b: "true" if b else "false")
    )
    text = df.to_csv(index=False, lineterminator="\n")
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
