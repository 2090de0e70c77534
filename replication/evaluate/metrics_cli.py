"""``replication metrics``: metrics of every image in a folder -> a tidy metrics CSV and a summary.

    replication metrics --input DIR --metrics niqe,brisque --output scores.csv
    replication metrics --input SR_DIR --reference GT_DIR --metrics psnr,ssim,niqe --output s.csv

The CSV is the same tidy table ``replication evaluate`` writes (:mod:`replication.artifacts.metrics_table`):
one row per (image, metric), full precision, ``nan`` where a metric is undefined for that image (e.g.
NIQE of an image smaller than 2 blocks of 96 px). ``model`` and ``dataset`` default to the input folder's
name, ``source`` to ``external``, ``profile`` to the active profile of ``--params`` (``none`` without one).
Metrics that cannot run here (missing weights) get no rows; the summary prints ``unavailable: needs
<file>`` for them. Border crop: none for no-reference metrics and 4 px (the x4 scale, the usual test
convention) for full-reference ones, unless ``--crop-border`` is given, which then applies to every metric.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from replication.argtypes import nonneg_int
from replication.artifacts.metrics_table import write_tidy_csv
from replication.batch import BatchFailures
from replication.errors import UserError
from replication.evaluate.registry import parse_metric_list
from replication.evaluate.runner import (
    add_metric_resource_args,
    all_undefined,
    mirror_from,
    per_metric,
    score_folder,
    select_images,
    summary_lines,
    tidy_rows,
)
from replication.evaluate.scorers import MetricResources, build_scorers
from replication.names import EXTERNAL_SOURCE  # images scored outside the pipeline: no model provenance
from replication.outputs import check_output
from replication.paramfile import read_params

log = logging.getLogger("replication.metrics")

DEFAULT_FR_CROP = 4


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, type=Path, help="folder of images to score")
    parser.add_argument("--metrics", default="niqe", help="comma-separated metric names (default: niqe)")
    parser.add_argument("--output", required=True, type=Path, help="per-image CSV to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    parser.add_argument("--reference", type=Path, help="folder of ground-truth images (same file stems)")
    parser.add_argument(
        "--crop-border",
        type=nonneg_int,
        default=None,
        metavar="N",
        help=f"crop N px from each side before every metric (default: 0 no-reference, {DEFAULT_FR_CROP} "
        "full-reference)",
    )
    parser.add_argument(
        "--max-images", type=nonneg_int, default=0, help="only the N images with the fewest pixels (0 = all)"
    )
    parser.add_argument(
        "--params",
        type=Path,
        default=Path("params.yaml"),
        help="params.yaml, used only to find the offline mirror (default: ./params.yaml)",
    )
    parser.add_argument("--name", help="the `model` column (default: the input folder's name)")
    parser.add_argument("--dataset", help="the `dataset` column (default: the input folder's name)")
    parser.add_argument("--source", default=EXTERNAL_SOURCE, help=f"the `source` column (default: {EXTERNAL_SOURCE})")
    add_metric_resource_args(parser)


def _note(message: str) -> None:
    tqdm.write(f"warning: {message}", file=sys.stderr)


def _profile(params_path: Path | None) -> str:
    if params_path is None or not params_path.is_file():
        return "none"
    return read_params(params_path).profile


def run(args: argparse.Namespace) -> int:
    names = parse_metric_list(args.metrics)
    images, subset = select_images(args.input, args.max_images)
    if args.reference is not None and not args.reference.is_dir():
        raise UserError(f"{args.reference}: reference folder not found")
    inputs = [("--input", args.input), ("--reference", args.reference)]
    check_output(args.output, command="metrics", flag="--output", kind="file", inputs=inputs, overwrite=args.overwrite)
    resources = MetricResources(
        mirror=mirror_from(args.params),
        weights_dirs=tuple(args.weights_dir),
        nr_crop_border=args.crop_border or 0,
        fr_crop_border=DEFAULT_FR_CROP if args.crop_border is None else args.crop_border,
    )
    scorers, unavailable = build_scorers(names, resources)
    needs_ref = [n for n, s in scorers.items() if s.spec.kind == "fr"]
    if needs_ref and args.reference is None:
        raise UserError(f"metric(s) {', '.join(needs_ref)} need --reference DIR")
    failures = BatchFailures("metrics")
    progress = not getattr(args, "no_progress", False)
    scores = score_folder(images, scorers, args.reference, on_undefined=_note, failures=failures, progress=progress)
    folder = args.input.resolve().name
    rows = tidy_rows(scores, args.name or folder, args.source, _profile(args.params), args.dataset or folder, subset)
    write_tidy_csv(rows, args.output)
    print(f"{args.input}: {len(scores)} images ({subset}) -> {args.output}")
    for line in summary_lines(per_metric(scores), unavailable):
        print(line)
    status = failures.finish(len(images))
    if unavailable:  # every metric here was asked for: a missing one is a failure, not a footnote
        log.error(f"metrics: unavailable: {', '.join(unavailable)} (see the lines above for the file each needs)")
    undefined = all_undefined(per_metric(scores), names)
    if undefined:
        log.error(f"metrics: --metrics {', '.join(undefined)}: undefined for every image (see the warnings above)")
    return 1 if status or unavailable or undefined else 0
