"""``replication train``: train Real-ESRNet (``--phase net``) or Real-ESRGAN (``--phase gan``).

    replication train --params params.yaml --variant full --seed 0 --phase net --data data/prepared/train \\
        --out runs/full-s0/net [--init FILE.safetensors|NAME|scratch] [--device auto|cpu|cuda] [--amp none|bf16] \\
        [--[no-]channels-last] [--compile] [--on-mismatch restart|fail] [--max-steps N] [--allow-deviation] \\
        [--read-workers N]

Several GPUs: ``python -m replication.train.launch replication train ...`` starts the profile's
``launch.nproc_per_node`` processes under ``torchrun`` (what dvc.yaml runs); ``batch_size`` is per
process and micro-batch (``accumulation``). A run resumes from ``OUT/checkpoints`` automatically.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from replication.device import add_device_argument, resolve_device
from replication.names import PHASES


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="parameter file (default: params.yaml)")
    parser.add_argument("--profile", help="override the file's active profile")
    parser.add_argument("--variant", required=True, help="training variant (params.yaml `variants:`)")
    parser.add_argument(
        "--phase",
        required=True,
        choices=PHASES,
        help="net: Real-ESRNet (L1); gan: Real-ESRGAN (L1 + perceptual + GAN)",
    )
    parser.add_argument("--data", required=True, type=Path, help="prepared training folder (meta_info.txt + shards)")
    parser.add_argument("--out", required=True, type=Path, help="run folder: model.safetensors, checkpoints/, dvclive/")
    parser.add_argument(
        "--init",
        help="initial generator: a .safetensors model file, a weights-registry name (looked up in "
        "--models-dir), or 'scratch'. Default: network.net_init for --phase net; required for "
        "--phase gan (the Real-ESRNet model)",
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=Path("models/official"),
        help="where registry weights were fetched to (default: models/official)",
    )
    parser.add_argument(
        "--vgg-weights",
        type=Path,
        default=Path("models/official/vgg19-dcbb9e9d.pth"),
        help="torchvision VGG19 ImageNet weights for the perceptual loss when the profile says "
        "vgg_weights: imagenet (default: models/official/vgg19-dcbb9e9d.pth)",
    )
    add_device_argument(parser, "training", allow_index=False)
    parser.add_argument(
        "--amp",
        choices=("none", "bf16"),
        default=None,
        help="bf16 autocast or none (default: the phase's `precision` in params.yaml)",
    )
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="channels-last memory format (default: on with CUDA; off on the CPU, which keeps CPU results as they were)",
    )
    parser.add_argument(
        "--read-workers",
        type=int,
        default=None,
        help="threads that read and decode the next GT batches while a step runs (0: read in line; the "
        "batches are the same bytes either way; default: 4 per process on CUDA, 1 on the CPU)",
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the generator and discriminator")
    parser.add_argument(
        "--on-mismatch",
        choices=("restart", "fail"),
        default="restart",
        help="checkpoints made with other parameters: move them aside and restart (default) or fail",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads for PyTorch (default: PyTorch's choice, one per core). On a machine "
        "shared with other jobs, 1 avoids OpenMP threads spin-waiting on each other",
    )
    parser.add_argument(
        "--seed",
        type=int,
        help="training seed (default: the first of the profile's `seeds`; dvc.yaml always passes it); the run's own "
        "initial weights, data order and degradation draws follow from it",
    )
    parser.add_argument(
        "--allow-deviation",
        action="store_true",
        help="let a real_scale profile train with a total batch other than 48 or in bf16; the "
        "deviation is recorded in the model's metadata (paper_scale_deviations)",
    )
    parser.add_argument(
        "--max-steps", type=int, help="stop after this step (a checkpoint is written there; run again to continue)"
    )


def run(args: argparse.Namespace) -> int:
    import torch

    from replication.errors import UsageError
    from replication.outputs import check_output
    from replication.train.loop import RunOptions, train

    # Plain int flags checked here as usage errors (the train stages of dvc.yaml do not depend on argtypes).
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be >= 1, got {args.threads}")
    if args.seed is not None and not 0 <= args.seed < 2**64:
        raise UsageError(f"--seed must be an integer from 0 to 2**64-1, got {args.seed}")
    if args.max_steps is not None and args.max_steps < 1:
        raise UsageError(f"--max-steps must be positive, got {args.max_steps}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)  # this process only: the CLI owns it
    # The run folder is resumed (its checkpoints persist between DVC runs), so only the path rules
    # apply: it must not be, contain or lie inside what training reads.
    inputs = [("--data", args.data), ("--models-dir", args.models_dir), ("--vgg-weights", args.vgg_weights)]
    inputs.append(("--params", args.params))
    check_output(args.out, command="train", flag="--out", kind="dir", inputs=inputs, names=())
    device = resolve_device(args.device, allow_index=False)
    opts = RunOptions(
        params_path=Path(args.params),
        profile=args.profile,
        variant=args.variant,
        phase=args.phase,
        data=args.data,
        out=args.out,
        init=args.init,
        models_dir=args.models_dir,
        vgg_weights=args.vgg_weights,
        device=device.type,
        amp=args.amp,
        channels_last=args.channels_last,
        compile=args.compile,
        on_mismatch=args.on_mismatch,
        max_steps=args.max_steps,
        seed=args.seed,
        allow_deviation=args.allow_deviation,
        read_workers=(4 if device.type == "cuda" else 1) if args.read_workers is None else args.read_workers,
    )
    train(opts)
    return 0
