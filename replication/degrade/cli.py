"""``replication synthesize``: write LQ/GT training pairs made with a degradation variant.

Output (published atomically: the directory appears only when complete)::

    OUT/gt/000000.png   GT patch (not sharpened), gt-size x gt-size
    OUT/lq/000000.png   8-bit LQ patch, gt-size/scale
    OUT/synthesis.json  arguments, parameter fingerprint, source image of every pair

``--preview GRID.png`` renders one GT (the first image of --gt-dir) through every variant.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tqdm import tqdm

from replication.degrade.crop import paired_random_crop, prepare_gt
from replication.degrade.pipeline import VARIANTS, Degrader
from replication.degrade.preview import render_preview
from replication.device import add_device_argument, resolve_device
from replication.errors import UserError
from replication.fsutil import atomic_dir
from replication.imageio import ImageReadError, list_images, read_image, write_image
from replication.params import fingerprint, load_params


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gt-dir", type=Path, required=True, help="folder of GT images")
    parser.add_argument("--out-dir", type=Path, help="output folder (replaced atomically)")
    parser.add_argument("--count", type=int, help="number of pairs to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", choices=VARIANTS, default="second_order")
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


def _source_order(n_images: int, count: int, generator: torch.Generator) -> list[int]:
    """Image index for each pair: shuffled passes over the folder, as many as needed."""
    order: list[int] = []
    while len(order) < count:
        order.extend(torch.randperm(n_images, generator=generator).tolist())
    return order[:count]


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params, args.profile)
    profile = params.active
    cfg = profile.degradation
    scale = profile.scale if args.scale is None else args.scale
    try:
        images = list_images(args.gt_dir)
    except FileNotFoundError as exc:
        raise UserError(f"--gt-dir: {exc}") from None
    if not images:
        raise UserError(f"--gt-dir {args.gt_dir}: no images found")
    if args.preview is not None:
        render_preview(images[0], cfg, scale, args.seed, args.preview)
        print(f"wrote {args.preview}")
        if args.out_dir is None:
            return 0
    if args.out_dir is None or args.count is None:
        raise UserError("--out-dir and --count are required (unless only --preview is given)")
    if args.count <= 0 or args.batch_size <= 0:
        raise UserError(f"--count and --batch-size must be positive, got {args.count} and {args.batch_size}")
    gt_size = profile.train_gan.gt_size if args.gt_size is None else args.gt_size
    if gt_size > cfg.gt_crop or gt_size % scale:
        raise UserError(
            f"--gt-size {gt_size} must be at most degradation.gt_crop ({cfg.gt_crop}) and divisible by scale {scale}"
        )
    device = resolve_device(args.device)
    degrader = Degrader(cfg, args.variant, scale, device)
    generator = torch.Generator().manual_seed(args.seed)
    sources = _source_order(len(images), args.count, generator)

    with atomic_dir(args.out_dir) as tmp, tqdm(total=args.count, unit="pair", desc=args.variant) as bar:
        for start in range(0, args.count, args.batch_size):
            batch_sources = sources[start : start + args.batch_size]
            crops = []
            for idx in batch_sources:
                try:
                    rgb = read_image(images[idx]).rgb[0]
                except (FileNotFoundError, ImageReadError) as exc:
                    raise UserError(str(exc)) from None
                crops.append(prepare_gt(rgb, cfg.gt_crop, cfg.hflip, generator))
            out = degrader(torch.stack(crops), generator)
            gt_patch, lq_patch = paired_random_crop(out.gt, out.lq, gt_size, scale, generator)
            for j in range(len(batch_sources)):
                name = f"{start + j:06d}.png"
                write_image(tmp / "gt" / name, gt_patch[j : j + 1])
                write_image(tmp / "lq" / name, lq_patch[j : j + 1])
            bar.update(len(batch_sources))
        meta = {
            "variant": args.variant,
            "seed": args.seed,
            "scale": scale,
            "gt_size": gt_size,
            "count": args.count,
            "batch_size": args.batch_size,
            "device": str(device),
            "profile": params.profile,
            "params": str(args.params),
            "degradation_fingerprint": fingerprint(cfg),
            "sources": [images[i].name for i in sources],
        }
        (tmp / "synthesis.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.count} pairs to {args.out_dir}")
    return 0
