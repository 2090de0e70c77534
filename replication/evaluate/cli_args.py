"""The arguments ``replication evaluate`` and ``replication evaluate-all`` share (the parameter file, the
model under its names, where and how the network runs), so both commands read them the same way."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from replication.device import add_device_argument
from replication.errors import UsageError
from replication.evaluate.runner import add_metric_resource_args


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The parameter file and the model under its names."""
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="parameter file")
    parser.add_argument("--profile", help="profile of the parameter file (default: its active profile)")
    parser.add_argument(
        "--model",
        required=True,
        help="'bicubic', our .safetensors, an official .pth (RRDBNet/SRVGG/DAN/CDC), or any model spandrel loads",
    )
    parser.add_argument("--name", required=True, help="model name for the `model` column")
    parser.add_argument(
        "--source",
        required=True,
        help="official | official-fp16-rounded | retrained-<profile> | bicubic | external (your own model: "
        "a row 'NAME (external)' in Table 1 and in every table, grid and slider of the report)",
    )


def add_compute_arguments(parser: argparse.ArgumentParser) -> None:
    """Where and how the network runs, and where metric files are found."""
    add_device_argument(parser, "the network (metrics are computed on the CPU)")
    parser.add_argument("--tile", type=int, help="tile size for the network, 0 = whole image (default: evaluate.tile)")
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads for PyTorch (default: one per core). The SR images and torch-based metrics depend "
        "in their last bits on it (parallel reductions split by thread), so dvc.yaml fixes it",
    )
    add_metric_resource_args(parser)


def apply_threads(args: argparse.Namespace) -> None:
    """``--threads`` (and ``--tile``, ``--max-images``): checked as usage errors, then the threads are
    set for this process only (the CLI owns it). Plain ``int`` flags checked here rather than
    ``replication.argtypes`` types: the evaluation stages of dvc.yaml do not depend on that module."""
    for flag, value, least in (("--threads", args.threads, 1), ("--tile", args.tile, 0)):
        if value is not None and value < least:
            raise UsageError(f"{flag} must be >= {least}, got {value}")
    if getattr(args, "max_images", None) is not None and args.max_images < 0:
        raise UsageError(f"--max-images must be >= 0 (0 = all), got {args.max_images}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
