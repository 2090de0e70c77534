"""``replication evaluate-all``: run one model on every test and validation set of the profile, in one
process, and write ``<out>/<dataset>/{images/,metrics.csv}`` per set (:mod:`replication.evaluate.suite`).

    replication evaluate-all --params params.yaml --model runs/full-s0/gan/model.safetensors \\
        --name full-s0 --source retrained-smoke --test-root data/test --val data/val \\
        --val-extra data/val-extra --out results/full-s0

* ``--test-root``: each ``evaluate.test_sets`` set from its download root ``<test-root>/<set>/``.
* ``--val`` / ``--val-extra``: the synthetic validation set (``lq/``, ``gt/``) and the folder of the
  further ones (``<variant>/lq``, ``<variant>/gt`` per ``validation.extra_variants``).
* Every set is written exactly as ``replication evaluate`` writes it (same CSV, same provenance file).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from replication.device import resolve_device
from replication.evaluate.cli_args import add_compute_arguments, add_model_arguments, apply_threads
from replication.evaluate.runner import per_metric, summary_lines
from replication.evaluate.settings import load_eval_params
from replication.evaluate.suite import SuiteRequest, evaluate_all, plan
from replication.outputs import check_output, filled_in_place

COMMAND = "evaluate-all"


def configure(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--test-root", type=Path, help="folder of the test sets' download roots (<root>/<set>/)")
    parser.add_argument("--val", type=Path, help="synthetic validation set (with lq/ and gt/)")
    parser.add_argument("--val-extra", type=Path, help="folder of the further validation sets (<variant>/lq, gt)")
    parser.add_argument("--out", required=True, type=Path, help="output folder: <out>/<dataset>/{images/,metrics.csv}")
    parser.add_argument("--overwrite", action="store_true", help="write into an existing folder that is not ours")
    add_compute_arguments(parser)


def run(args: argparse.Namespace) -> int:
    params = load_eval_params(args.params, args.profile)
    apply_threads(args)
    inputs = [("--test-root", args.test_root), ("--val", args.val), ("--val-extra", args.val_extra)]
    if args.model != "bicubic":
        inputs.append(("--model", args.model))
    check_output(args.out, command=COMMAND, flag="--out", kind="dir", inputs=inputs, overwrite=args.overwrite)
    req = SuiteRequest(
        model=args.model,
        name=args.name,
        source=args.source,
        out=args.out,
        test_root=args.test_root,
        val=args.val,
        val_extra=args.val_extra,
        tile=args.tile,
        weights_dirs=tuple(args.weights_dir),
        device=resolve_device(args.device),
        progress=not getattr(args, "no_progress", False),
    )
    plan(params, req)  # every input folder checked before the first image is written
    status = 0
    with filled_in_place(args.out, COMMAND):  # a new --out is removed again if the run stops half-way
        results = evaluate_all(params, req)
    for job, done in results:
        total = sum(done.upscale_seconds.values())
        print(f"{args.name} on {job.dataset}: {len(done.images)} images ({done.subset}), upscaling {total:.1f} s")
        for line in summary_lines(per_metric(done.scores), done.unavailable):
            print(line)
        status = max(status, done.failures.finish(len(done.images)))
    return status
