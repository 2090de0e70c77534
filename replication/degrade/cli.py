"""``replication synthesize``: write LQ/GT training pairs made with a degradation variant (the stage
itself is :func:`replication.degrade.synthesize.synthesize`, which documents the output).

``--preview GRID.png`` renders one GT (the first image of --gt-dir) through every variant.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from replication.degrade.preview import render_preview
from replication.degrade.synthesize import SynthesisRequest, synthesize
from replication.device import add_device_argument, resolve_device
from replication.errors import UserError
from replication.imageio import list_images
from replication.names import DEGRADATION_VARIANTS
from replication.params import load_params


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gt-dir", type=Path, required=True, help="folder of GT images")
    parser.add_argument("--out-dir", type=Path, help="output folder (replaced atomically)")
    parser.add_argument("--count", type=int, help="number of pairs to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", choices=DEGRADATION_VARIANTS, default="second_order")
    parser.add_argument("--scale", type=int, default=None, help="default: the profile's scale")
    parser.add_argument(
        "--gt-size",
        type=int,
        default=None,
        help="GT patch size of the pairs (default: the profile's train_gan.gt_size)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="images degraded together; >1 shares the per-batch draws (resize, noise family, order) within a batch",
    )
    add_device_argument(parser, "the degradation (noise fields are drawn on the device: pairs differ by device)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--profile", default=None, help="override the active profile of --params")
    parser.add_argument("--preview", type=Path, default=None, help="write a grid of one GT through every variant")


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
        render_preview(images[0], profile.degradation, scale, args.seed, args.preview)
        print(f"wrote {args.preview}")
        if args.out_dir is None:
            return 0
    if args.out_dir is None or args.count is None:
        raise UserError("--out-dir and --count are required (unless only --preview is given)")
    req = SynthesisRequest(
        images=images,
        out_dir=args.out_dir,
        count=args.count,
        seed=args.seed,
        variant=args.variant,
        scale=scale,
        gt_size=profile.train_gan.gt_size if args.gt_size is None else args.gt_size,
        batch_size=args.batch_size,
        device=resolve_device(args.device),
        params_path=args.params,
    )
    synthesize(params, req)
    print(f"wrote {args.count} pairs to {args.out_dir}")
    return 0
