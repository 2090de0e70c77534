"""``replication report``: render ``report.md`` (+ ``static/*.png``), a self-contained ``report.html``,
``summary.csv`` (means and 95% CIs) and ``metrics.json`` (means, for ``dvc metrics``).

Inputs (docs/CONTRACTS.md layout): tidy metric CSVs and SR images under ``--results``
(``<results>/<model>/<dataset>/metrics.csv`` and ``.../images/``), DVCLive logs under ``--runs``, the
LR test inputs under ``--test-root`` (``<root>/<dataset>/``, registry layout) and the synthetic validation set's LQ images.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from replication.artifacts.layout import eval_images
from replication.artifacts.metrics_table import read_tidy, summarise
from replication.errors import UserError
from replication.fsutil import write_text_atomic
from replication.params import Params, load_params
from replication.report import paper_table
from replication.report.curves import find_curves
from replication.report.document import to_html, write_markdown
from replication.report.grids import grid_rows, render_grid
from replication.report.render import ReportInputs, build_report


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="parameter file (default: params.yaml)")
    parser.add_argument("--profile", help="override the file's active profile")
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
    parser.add_argument("--previews", type=Path, nargs="*", default=[], help="degradation preview PNGs to include")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="output directory (default: reports)")


def unavailable_models(params: Params, measured: set[str]) -> dict[str, str]:
    """Table 1 models with no result in this run, and why (the weights registry's reason)."""
    from replication.archs.weights_registry import REGISTRY

    baselines = params.active.evaluate.baselines
    out = {}
    for model in paper_table.paper_models():
        if model in measured or model == "bicubic" or model in params.variants:
            continue
        entry = REGISTRY.get(model)
        if entry is None:
            out[model] = "not in the weights registry"
        elif entry.availability == "unavailable":
            out[model] = entry.reason
        elif model not in baselines:
            out[model] = f"not in this profile's evaluate.baselines ({entry.reason})"
        elif entry.availability == "manual":
            out[model] = f"listed in evaluate.baselines but no result was found ({entry.reason})"
        else:
            out[model] = "listed in evaluate.baselines but no result was found"
    return out


def _grids(args: argparse.Namespace, params: Params, tidy: pd.DataFrame) -> list[tuple[str, bytes]]:
    from replication.data.registry import image_files

    p = params.active
    order = [*p.evaluate.baselines, *params.variants]
    datasets = [*p.evaluate.test_sets] + ([args.val_name] if args.val_name and args.val_lq else [])
    grids = []
    for dataset in datasets:
        models = [m for m in order if eval_images(args.results, m, dataset).is_dir()]
        if not models or p.report.grid_images == 0:
            continue
        lr_files = (
            sorted(args.val_lq.iterdir())
            if dataset == args.val_name
            else image_files(args.test_root / dataset, dataset)
        )
        rows = grid_rows(lr_files, {m: eval_images(args.results, m, dataset) for m in models}, p.report.grid_images)
        if rows:
            grids.append((dataset, render_grid(rows, p.report.grid_crop, f"{dataset}: ×{p.scale} zoomed crops")))
    return grids


def metrics_json(summary: pd.DataFrame) -> dict:
    """{dataset: {model: {metric: mean}}} — small, git-tracked, for ``dvc metrics show/diff``."""
    out: dict = {}
    for r in summary.itertuples(index=False):
        out.setdefault(r.dataset, {}).setdefault(r.model, {})[r.metric] = (
            None if pd.isna(r.mean) else round(float(r.mean), 6)
        )
    return out


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params, args.profile)
    p = params.active
    tidy = read_tidy([args.results])
    if set(tidy["profile"]) != {params.profile}:
        raise UserError(
            f"{args.results}: metrics of profile(s) {', '.join(sorted(set(tidy['profile'])))} but the active profile "
            f"is {params.profile!r}; rerun the evaluation or pass --profile"
        )
    summary = summarise(tidy, p.evaluate.bootstrap_samples, p.evaluate.seed)
    previews = []
    for path in args.previews:
        if not path.is_file():
            raise UserError(f"{path}: degradation preview not found")
        previews.append((f"Degradation preview: {path.stem}", path.read_bytes()))
    inputs = ReportInputs(
        params=params,
        summary=summary,
        curves=find_curves(args.runs),
        grids=_grids(args, params, tidy),
        previews=previews,
        unavailable=unavailable_models(params, set(tidy["model"])),
        validation_dataset=args.val_name,
    )
    doc = build_report(inputs)
    args.out.mkdir(parents=True, exist_ok=True)
    written = write_markdown(doc, args.out / "report.md")
    write_text_atomic(args.out / "report.html", to_html(doc))
    write_text_atomic(args.out / "summary.csv", summary.to_csv(index=False, float_format="%.6g"))
    write_text_atomic(args.out / "metrics.json", json.dumps(metrics_json(summary), indent=1, sort_keys=True) + "\n")
    print(f"report: {args.out / 'report.html'} and {args.out / 'report.md'} (+{len(written) - 1} images)")
    return 0
