"""``replication synthesize``: write LQ/GT training pairs made with a degradation variant (the stage
itself is :func:`replication.degrade.synthesize.synthesize`, which documents the output).

``--preview GRID.png`` renders one GT (the first image of --gt-dir) through every variant.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from replication.argtypes import item_count, positive_int, seed
from replication.degrade.preview import render_preview
from replication.degrade.synthesize import SynthesisRequest, synthesize
from replication.device import add_device_argument, resolve_device
from replication.errors import UsageError, UserError
from replication.imageio import list_images
from replication.names import DEGRADATION_VARIANTS
from replication.outputs import check_output
from replication.params import load_params

log = logging.getLogger("replication.synthesize")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gt-dir", type=Path, required=True, help="folder of GT images")
    parser.add_argument("--out-dir", type=Path, help="output folder (replaced atomically)")
    parser.add_argument("--overwrite", action="store_true", help="replace an --out-dir that is not an earlier output")
    parser.add_argument("--count", type=item_count, help="number of pairs to write (at most 10,000,000)")
    parser.add_argument("--seed", type=seed, default=0, help="random seed, 0 .. 2**64-1 (default 0)")
    parser.add_argument("--variant", choices=DEGRADATION_VARIANTS, default="second_order")
    parser.add_argument("--scale", type=positive_int, default=None, help="default: the profile's scale")
    parser.add_argument(
        "--gt-size",
        type=positive_int,
        default=None,
        help="GT patch size of the pairs (default: the profile's train_gan.gt_size)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=1,
        help="images degraded together; >1 shares the per-batch draws (resize, noise family, order) within a batch",
    )
    add_device_argument(parser, "the degradation (noise fields are drawn on the device: pairs differ by device)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--profile", default=None, help="override the active profile of --params")
    parser.add_argument("--preview", type=Path, default=None, help="write a grid of one GT through every variant")
    parser.add_argument(
        "--pad-small",
        action="store_true",
        help="accept GT images with a side shorter than --gt-size by reflect-padding them (default: refused)",
    )


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params, args.profile)
    profile = params.active
    scale = profile.scale if args.scale is None else args.scale
    try:
        images = list_images(args.gt_dir)
    except FileNotFoundError as exc:
        raise UserError(f"--gt-dir: {exc}") from None
    if not images:
        raise UserError(f"--gt-dir {args.gt_dir}: no images found")
    if args.preview is not None:
        check_output(
            args.preview,
            command="synthesize",
            flag="--preview",
            kind="file",
            inputs=[("--gt-dir", args.gt_dir)],
            overwrite=args.overwrite,
        )
        render_preview(images[0], profile.degradation, scale, args.seed, args.preview)
        print(f"wrote {args.preview}")
        if args.out_dir is None:
            return 0
    if args.out_dir is None or args.count is None:
        raise UsageError("--out-dir and --count are required (unless only --preview is given)")
    check_output(
        args.out_dir,
        command="synthesize",
        flag="--out-dir",
        inputs=[("--gt-dir", args.gt_dir), ("--params", args.params)],
        overwrite=args.overwrite,
    )
    gt_size = profile.train_gan.gt_size if args.gt_size is None else args.gt_size
    if gt_size % scale:
        given = "" if args.gt_size is not None else " (the profile's train_gan.gt_size)"
        raise UsageError(f"--gt-size {gt_size}{given} must be divisible by --scale {scale} (the LQ is gt-size/scale)")
    req = SynthesisRequest(
        images=images,
        out_dir=args.out_dir,
        count=args.count,
        seed=args.seed,
        variant=args.variant,
        scale=scale,
        gt_size=gt_size,
        batch_size=args.batch_size,
        device=resolve_device(args.device),
        params_path=args.params,
        progress=not getattr(args, "no_progress", False),
        pad_small=args.pad_small,
    )
    bad = synthesize(params, req)
    print(f"wrote {args.count} pairs to {args.out_dir}")
    if bad:
        log.error(f"synthesize: {len(bad)} of {len(images)} GT image(s) could not be read and were skipped:")
        for why in bad.values():
            log.error(f"  {why}")
        return 1
    return 0
