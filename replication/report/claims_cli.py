"""``replication claims``: the argparse adapter of the claims stage (:mod:`replication.report.claims_stage`):
the verdict table of the paper's claims from tidy per-image metrics (and training logs when given)."""

from __future__ import annotations

import argparse
from pathlib import Path

from replication.outputs import check_output
from replication.params import load_params
from replication.report.claims import power_rows
from replication.report.claims_stage import ClaimsPaths, claims


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="parameter file (default: params.yaml)")
    parser.add_argument("--profile", help="override the file's active profile")
    parser.add_argument(
        "--claims", type=Path, default=Path("claims.yaml"), help="claims definition (default: claims.yaml)"
    )
    parser.add_argument(
        "--results",
        type=Path,
        required=True,
        help="tidy per-image metrics: a folder of metrics CSVs (results/) or one tidy file (a report's tidy.csv.gz)",
    )
    parser.add_argument(
        "--runs",
        type=Path,
        default=None,
        help="training logs: a runs folder (<runs>/<run>/gan/dvclive) or a report's curves.tsv (optional)",
    )
    parser.add_argument("--out", type=Path, required=True, help="the verdict table to write (claims.csv)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parser.add_argument(
        "--power",
        action="store_true",
        help="also print, per paired line, the smallest effect detected 80%% of the time (docs/claims.md)",
    )


def run(args: argparse.Namespace) -> int:
    inputs = [("--results", args.results), ("--runs", args.runs), ("--claims", args.claims), ("--params", args.params)]
    check_output(args.out, command="claims", flag="--out", kind="file", inputs=inputs, overwrite=args.overwrite)
    params = load_params(args.params, args.profile)
    lines = claims(params, ClaimsPaths(results=args.results, claims=args.claims, runs=args.runs, out=args.out))
    decided = sum(1 for line in lines if line.verdict != "not measurable")
    print(f"claims: {args.out} ({len(lines)} lines, {decided} measurable)")
    if args.power:
        print(_power_markdown(power_rows(lines)))
    return 0


def _power_markdown(rows: list[dict]) -> str:
    """The power table as markdown: variance components (sd, metric units) and detectable effects."""
    extra = [k for k in (rows[0] if rows else {}) if k.startswith("mde_")]
    head = ["claim", "variant", "level", "metric", "datasets", "seed sd", "image sd", "residual sd"]
    head += ["seeds × images", "MDE as run", *(k.removeprefix("mde_").replace("_", " ") for k in extra)]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["claim"], r["variant"], r["level"], r["metric"], r["datasets"]]
        cells += [f"{r[k]:.3g}" for k in ("seed_sd", "image_sd", "residual_sd")]
        cells += [f"{r['n_seeds']} × {r['n_images']}", *(f"{r[k]:.3g}" for k in ("mde", *extra))]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)
