"""``replication prepare``: multi-scale copies and sub-image shards of the training sets."""

from __future__ import annotations

import argparse

from replication.argtypes import positive_int
from replication.data.config import DataConfig
from replication.outputs import check_output
from replication.paramfile import read_params


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="parameter file (default: params.yaml)")
    parser.add_argument("--profile", help="override the file's active profile")
    parser.add_argument("--raw", default="data/raw", help="downloaded sets (default: data/raw)")
    parser.add_argument("--out", default="data/prepared/train", help="output folder (default: data/prepared/train)")
    parser.add_argument("--overwrite", action="store_true", help="replace an --out folder that is not ours")
    parser.add_argument("--workers", type=positive_int, default=None, help="processes (default: all usable cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from replication.data.prepare import prepare_training_data

    inputs = [("--raw", args.raw), ("--params", args.params)]
    check_output(args.out, command="prepare", flag="--out", kind="dir", inputs=inputs, overwrite=args.overwrite)
    cfg = read_params(args.params, args.profile).section(DataConfig, "data")  # the one section it reads
    summary = prepare_training_data(cfg, args.raw, args.out, workers=args.workers, progress=not args.no_progress)
    per_set = ", ".join(f"{k}: {v}" for k, v in summary.per_set.items())
    print(
        f"{summary.out_dir}: {summary.sub_images} sub-images from {summary.source_images} images "
        f"in {summary.shards} shard(s) ({per_set})"
    )
    return 0
