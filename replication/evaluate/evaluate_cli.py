"""``replication evaluate``: run a model (or the Bicubic baseline) on a test set, save the SR images
and write tidy metric rows.

    replication evaluate --params params.yaml --model bicubic --name bicubic --source bicubic \\
        --dataset realsrset --input data/raw/realsrset --out-images results/sr/bicubic/realsrset \\
        --out-metrics results/metrics/bicubic/realsrset.csv

* ``--model``: ``bicubic`` (MATLAB bicubic x ``scale``, :mod:`replication.evaluate.bicubic`) or a
  model file (:mod:`replication.archs.loading`): our ``.safetensors`` (``weights fetch`` / ``train``),
  an official ``.pth``, or any architecture spandrel loads (optional extra).
* ``--source external --name NAME``: a model you bring; the report shows it as "NAME (external)".
* Images: every image, or the ``evaluate.max_images`` smallest by pixel count (``--max-images``
  overrides), recorded in the ``subset`` column as ``full`` or ``smallest N of M``.
* Each SR image is written as ``<out-images>/<stem>.png`` (the input's bit depth, gray and alpha kept;
  alpha is resized bilinearly, it does not enter any metric), then read back, so the metrics are
  those of the saved file, which ``replication metrics`` reproduces.
* Metrics: ``--metrics`` or ``evaluate.metrics``; borders ``evaluate.nr_crop_border`` /
  ``evaluate.fr_crop_border``; full-reference metrics need ``--reference DIR``.
* Output: the tidy CSV (:mod:`replication.artifacts.metrics_table`) and ``<out-metrics stem>.meta.json``
  beside it with the run's provenance and the metrics that were unavailable (with the file they need);
  timings are printed only, so two runs give identical bytes.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from replication.device import describe, resolve_device
from replication.evaluate.cli_args import add_compute_arguments, add_model_arguments, apply_threads
from replication.evaluate.registry import parse_metric_list
from replication.evaluate.runner import all_undefined, per_metric, summary_lines
from replication.evaluate.settings import load_eval_params
from replication.evaluate.stage import EvalRequest, evaluate
from replication.outputs import check_evaluate_outputs

log = logging.getLogger("replication")


def configure(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--dataset", required=True, help="test-set name for the `dataset` column")
    parser.add_argument("--input", required=True, type=Path, help="folder of low-quality input images")
    parser.add_argument("--out-images", required=True, type=Path, help="folder for the SR images")
    parser.add_argument("--out-metrics", required=True, type=Path, help="tidy metrics CSV to write")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs that are not ours")
    parser.add_argument("--metrics", help="comma-separated metric names (default: evaluate.metrics)")
    parser.add_argument(
        "--max-images", type=int, help="the N images with the fewest pixels, 0 = all (default: evaluate.max_images)"
    )
    parser.add_argument("--reference", type=Path, help="ground-truth folder (same stems) for full-reference metrics")
    add_compute_arguments(parser)


def run(args: argparse.Namespace) -> int:
    params = load_eval_params(args.params, args.profile)
    apply_threads(args)
    check_evaluate_outputs(args)
    device = resolve_device(args.device)
    req = EvalRequest(
        model=args.model,
        name=args.name,
        source=args.source,
        dataset=args.dataset,
        input=args.input,
        out_images=args.out_images,
        out_metrics=args.out_metrics,
        metrics=args.metrics,
        max_images=args.max_images,
        reference=args.reference,
        tile=args.tile,
        weights_dirs=tuple(args.weights_dir),
        device=device,
        progress=not getattr(args, "no_progress", False),
    )
    done = evaluate(params, req)
    n = max(len(done.images), 1)
    total = sum(done.upscale_seconds.values())
    print(
        f"{args.name} ({args.source}) on {args.dataset}: {len(done.images)} images ({done.subset}), "
        f"upscaling {total:.1f} s ({total / n:.2f} s/img) -> {args.out_metrics}"
    )
    ran_on = describe(device) if args.model != "bicubic" else describe(torch.device("cpu"))
    print("compute: " + ", ".join(f"{k} {v}" for k, v in ran_on.items()))
    if done.metric_seconds:
        print("metric time per image: " + ", ".join(f"{k} {v / n:.2f} s" for k, v in done.metric_seconds.items()))
    for line in summary_lines(per_metric(done.scores), done.unavailable):
        print(line)
    status = done.failures.finish(len(done.images))
    # metrics named on the command line (not the profile's defaults) must give at least one value
    undefined = all_undefined(per_metric(done.scores), parse_metric_list(args.metrics)) if args.metrics else []
    if undefined:
        log.error(f"evaluate: --metrics {', '.join(undefined)}: undefined for every image (see the warnings above)")
    return 1 if status or undefined else 0
