"""``replication report``: the argparse adapter of the report stage (:mod:`replication.report.stage`,
which lists the inputs and the files written)."""

from __future__ import annotations

import argparse
from pathlib import Path

from replication.outputs import REPORT_FILES, check_output, check_report_output
from replication.params import load_params
from replication.report.stage import ReportPaths, report


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="parameter file (default: params.yaml)")
    parser.add_argument("--profile", help="override the file's active profile")
    parser.add_argument(
        "--claims", type=Path, default=Path("claims.yaml"), help="claims definition (default: claims.yaml)"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("results"),
        help="evaluation outputs: <results>/<model>/<dataset>/{metrics.csv,images/}",
    )
    parser.add_argument(
        "--runs", type=Path, default=Path("runs"), help="training runs (<runs>/<variant>/<phase>/dvclive)"
    )
    parser.add_argument(
        "--test-root",
        type=Path,
        default=Path("data/test"),
        help="downloaded test sets, one download root per set: <test-root>/<dataset>/",
    )
    parser.add_argument("--val-lq", type=Path, default=None, help="LQ images of the synthetic validation set")
    parser.add_argument("--val-name", default="", help="dataset name the validation set has in the metrics")
    parser.add_argument(
        "--val-extra",
        type=Path,
        default=None,
        help="further validation sets, <val-extra>/<variant>/lq (shown as dataset <val-name>-<variant>)",
    )
    parser.add_argument("--previews", type=Path, nargs="*", default=[], help="degradation preview PNGs to include")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="output directory (default: reports)")
    parser.add_argument("--overwrite", action="store_true", help="replace report files in a folder that is not ours")


def run(args: argparse.Namespace) -> int:
    check_report_output(args)
    if args.val_extra is not None:  # an input like the others that check_report_output lists
        check_output(
            args.out,
            command="report",
            flag="--out",
            inputs=[("--val-extra", args.val_extra)],
            overwrite=args.overwrite,
            names=REPORT_FILES,
        )
    params = load_params(args.params, args.profile)
    paths = ReportPaths(
        results=args.results,
        runs=args.runs,
        test_root=args.test_root,
        val_lq=args.val_lq,
        val_name=args.val_name,
        val_extra=args.val_extra,
        previews=tuple(args.previews),
        claims=args.claims,
        out=args.out,
    )
    images = report(params, paths)
    print(f"report: {args.out / 'report.html'} and {args.out / 'report.md'} (+{images} images)")
    return 0
