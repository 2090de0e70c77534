"""``replication metrics``: metrics of every image in a folder -> a per-image CSV and a summary.

    replication metrics --input DIR --metrics niqe,brisque --output scores.csv
    replication metrics --input SR_DIR --reference GT_DIR --metrics psnr,ssim,niqe --output s.csv

CSV columns: ``image`` then one column per available metric (full precision; ``nan`` where a
metric is undefined for that image, e.g. NIQE of an image smaller than 2 blocks of 96 px).
Metrics that cannot run here (missing weights) get no column; the summary prints
``unavailable: needs <file>`` for them. Border crop: none for no-reference metrics and 4 px (the
x4 scale, BasicSR's test convention) for full-reference ones, unless ``--crop-border`` is given,
which then applies to every metric.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from replication.argtypes import nonneg_int
from replication.batch import BatchFailures
from replication.errors import UserError
from replication.evaluate.registry import parse_metric_list
from replication.evaluate.runner import (
    add_metric_resource_args,
    find_reference,
    fmt,
    mirror_from,
    read_rgb,
    select_images,
    summary_lines,
)
from replication.evaluate.scorers import MetricResources, build_scorers, score_image
from replication.fsutil import write_text_atomic
from replication.outputs import check_output

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
    add_metric_resource_args(parser)


def _note(message: str) -> None:
    tqdm.write(f"warning: {message}", file=sys.stderr)


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

    columns = list(scorers)
    table: dict[str, list[float]] = {n: [] for n in columns}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["image", *columns])
    failures = BatchFailures("metrics")
    bar = tqdm(
        images, desc="metrics", unit="img", file=sys.stderr, disable=not columns or getattr(args, "no_progress", False)
    )
    for path in bar:
        try:
            sr = read_rgb(path)
            ref = read_rgb(find_reference(args.reference, path)) if args.reference is not None else None
            values = score_image(scorers, sr, ref, path.name, on_undefined=_note)
        except UserError as exc:  # one bad image: report it, score the others, fail at the end
            failures.add(exc, path)
            continue
        for n in columns:
            table[n].append(values[n])
        writer.writerow([path.name, *(fmt(values[n]) for n in columns)])
    write_text_atomic(args.output, buf.getvalue())

    print(f"{args.input}: {len(images) - len(failures)} images ({subset}) -> {args.output}")
    for line in summary_lines(table, unavailable):
        print(line)
    status = failures.finish(len(images))
    if unavailable:  # every metric here was asked for: a missing one is a failure, not a footnote
        log.error(f"metrics: unavailable: {', '.join(unavailable)} (see the lines above for the file each needs)")
    return 1 if status or unavailable else 0
