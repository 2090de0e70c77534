"""``replication check-metrics``: compare a run's metrics with the committed expected values.

Exit status: 0 when nothing moved beyond tolerance, 1 on a regression (the table of what moved is
printed) or an unreadable input file, 2 on a usage error. ``--json`` prints one JSON object instead
(``status`` ok/failed, ``counts``, ``rows``) for scripts. ``--write`` (re)creates the expected file
from a run instead, on purpose.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from replication.argtypes import nonneg_float
from replication.artifacts.metrics_table import read_tidy
from replication.report.regression import (
    DEFAULT_ABS,
    DEFAULT_REL,
    Tolerance,
    compare,
    expected_from_results,
    failed,
    format_table,
    load_expected,
    write_expected,
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--expected", required=True, type=Path, help="expected-metrics JSON (committed)")
    parser.add_argument(
        "--results",
        required=True,
        type=Path,
        nargs="+",
        help="tidy metrics CSV files or directories searched for *.csv",
    )
    parser.add_argument(
        "--tolerance",
        type=nonneg_float,
        default=None,
        help="absolute tolerance on each mean, overriding the file's (with --rel-tolerance)",
    )
    parser.add_argument(
        "--rel-tolerance",
        type=nonneg_float,
        default=None,
        help="relative tolerance (fraction of |expected|), overriding the file's",
    )
    parser.add_argument(
        "--fail-on",
        choices=("any", "worse"),
        default="any",
        help="'any' (default): a move in either direction fails; 'worse': only regressions",
    )
    parser.add_argument("--all", action="store_true", help="print every row, not only those that moved")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument(
        "--write", action="store_true", help="write the expected file from --results instead of checking"
    )
    parser.add_argument(
        "--sources",
        default=None,
        help="with --write: comma-separated sources to keep (e.g. bicubic,official-fp16-rounded)",
    )
    parser.add_argument("--note", default="", help="with --write: how the values were produced")


def _override(args: argparse.Namespace) -> Tolerance | None:
    if args.tolerance is None and args.rel_tolerance is None:
        return None
    return Tolerance(abs=args.tolerance or 0.0, rel=args.rel_tolerance or 0.0)


def json_report(table, counts: dict, is_failed: bool, expected: Path, only_moved: bool) -> str:
    """The comparison as JSON (NaN -> null), rows that moved or all of them."""
    shown = table[table["status"] != "ok"] if only_moved else table

    def clean(value):
        if isinstance(value, float) and math.isnan(value):
            return None
        return value.item() if hasattr(value, "item") else value

    rows = [{k: clean(v) for k, v in row.items()} for row in shown.to_dict(orient="records")]
    report = {
        "status": "failed" if is_failed else "ok",
        "expected": str(expected),
        "counts": {str(k): int(v) for k, v in sorted(counts.items())},
        "rows": rows,
    }
    return json.dumps(report, indent=1, sort_keys=True)


def run(args: argparse.Namespace) -> int:
    tidy = read_tidy(args.results)
    if args.write:
        previous = load_expected(args.expected) if args.expected.exists() else None
        tolerance = _override(args) or (previous.tolerance if previous else Tolerance(DEFAULT_ABS, DEFAULT_REL))
        sources = tuple(s for s in args.sources.split(",") if s) if args.sources else None
        content = expected_from_results(
            tidy,
            sources,
            tolerance,
            args.note or (previous.note if previous else ""),
            previous.metric_tolerance if previous else None,
        )
        write_expected(args.expected, content)
        if args.json:  # --json: stdout is always one JSON object
            print(json.dumps({"status": "written", "expected": str(args.expected), "entries": len(content["entries"])}))
        else:
            print(f"{args.expected}: wrote {len(content['entries'])} expected means (profile {content['profile']})")
        return 0
    expected = load_expected(args.expected)
    table = compare(expected, tidy, _override(args))
    counts = table["status"].value_counts().to_dict()
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    if args.json:
        print(json_report(table, counts, failed(table, args.fail_on), args.expected, only_moved=not args.all))
        return 1 if failed(table, args.fail_on) else 0
    print(format_table(table, only_moved=not args.all))
    if failed(table, args.fail_on):
        print(f"check-metrics: FAILED ({summary}) against {args.expected}")
        return 1
    print(f"check-metrics: ok ({summary}) against {args.expected}")
    return 0
