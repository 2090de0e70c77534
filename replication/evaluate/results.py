"""``python -m replication.evaluate.results``: combine tidy metric CSVs and summarise them.

The table format, its reader and the summary (mean over images and 95% bootstrap interval) live in
:mod:`replication.artifacts.metrics_table`; this module is only the command line.

Command line: ``python -m replication.evaluate.results RESULTS_DIR --long all.csv --summary summary.csv``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from replication.artifacts.metrics_table import read_tidy, summarise, write_table
from replication.errors import UserError
from replication.evaluate.config import EvalConfig
from replication.paramfile import read_params


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
    try:
        cfg = read_params(args.params, args.profile).section(EvalConfig, "evaluate")
        df = read_tidy(args.sources)
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
