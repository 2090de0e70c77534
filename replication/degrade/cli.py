"""``replication synthesize``: write LQ/GT training pairs made with a degradation variant.

Output (published atomically: the directory appears only when complete)::

    OUT/gt/000000.png   GT patch (not sharpened), gt-size x gt-size
    OUT/lq/000000.png   8-bit LQ patch, gt-size/scale
    OUT/synthesis.json  arguments, parameter fingerprint, source image of every pair

``--preview GRID.png`` renders one GT (the first image of --gt-dir) through every variant.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import torch
from tqdm import tqdm

from replication.argtypes import positive_int
from replication.degrade.crop import paired_random_crop, prepare_gt
from replication.degrade.pipeline import VARIANTS, Degrader
from replication.degrade.preview import render_preview
from replication.device import add_device_argument, resolve_device
from replication.errors import UsageError, UserError
from replication.fsutil import atomic_dir
from replication.imageio import list_images, read_image, write_image
from replication.outputs import check_output, write_marker
from replication.params import fingerprint, load_params

log = logging.getLogger("replication.synthesize")

# The reference pipeline pads/crops every GT to 400 px before degrading it (the paper profile's
# degradation.gt_crop). A standalone call asking for patches larger than the active profile's crop
# gets this crop instead of an error.
PAPER_GT_CROP = 400


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gt-dir", type=Path, required=True, help="folder of GT images")
    parser.add_argument("--out-dir", type=Path, help="output folder (replaced atomically)")
    parser.add_argument("--overwrite", action="store_true", help="replace an --out-dir that is not an earlier output")
    parser.add_argument("--count", type=positive_int, help="number of pairs to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", choices=VARIANTS, default="second_order")
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


def _source_order(n_images: int, count: int, generator: torch.Generator) -> list[int]:
    """Image index for each pair: shuffled passes over the folder, as many as needed."""
    order: list[int] = []
    while len(order) < count:
        order.extend(torch.randperm(n_images, generator=generator).tolist())
    return order[:count]


def _crop_for(cfg, gt_size: int, scale: int):
    """The degradation config with a GT crop large enough for ``gt_size`` patches."""
    crop = cfg.gt_crop
    if gt_size > crop:
        crop = max(PAPER_GT_CROP, gt_size)
        log.info(
            f"--gt-size {gt_size} exceeds the profile's degradation.gt_crop ({cfg.gt_crop}): "
            f"degrading {crop} px crops (the paper's crop) instead"
        )
    if crop % scale:
        crop += scale - crop % scale  # the LQ must be exactly crop / scale pixels
    return cfg if crop == cfg.gt_crop else dataclasses.replace(cfg, gt_crop=crop)


class _Sources:
    """GT images by index; an unreadable one is reported once and replaced by the next good one."""

    def __init__(self, images: list[Path]):
        self.images = images
        self.bad: dict[Path, str] = {}

    def read(self, idx: int) -> tuple[int, torch.Tensor]:
        for step in range(len(self.images)):
            j = (idx + step) % len(self.images)
            path = self.images[j]
            if path in self.bad:
                continue
            try:
                return j, read_image(path).rgb[0]
            except UserError as exc:
                self.bad[path] = str(exc)
                log.error(f"error: {exc} (skipped)")
        raise UserError(f"--gt-dir: none of the {len(self.images)} images could be read")


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
        check_output(
            args.preview,
            command="synthesize",
            flag="--preview",
            kind="file",
            inputs=[("--gt-dir", args.gt_dir)],
            overwrite=args.overwrite,
        )
        render_preview(images[0], cfg, scale, args.seed, args.preview)
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
    cfg = _crop_for(cfg, gt_size, scale)
    device = resolve_device(args.device)
    degrader = Degrader(cfg, args.variant, scale, device)
    generator = torch.Generator().manual_seed(args.seed)
    sources = _source_order(len(images), args.count, generator)
    reader = _Sources(images)

    bar = tqdm(total=args.count, unit="pair", desc=args.variant, disable=getattr(args, "no_progress", False))
    with atomic_dir(args.out_dir) as tmp, bar:
        for start in range(0, args.count, args.batch_size):
            batch_sources = sources[start : start + args.batch_size]
            crops = []
            for k, idx in enumerate(batch_sources):
                sources[start + k], rgb = reader.read(idx)
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
            "gt_crop": cfg.gt_crop,
            "count": args.count,
            "batch_size": args.batch_size,
            "device": str(device),
            "profile": params.profile,
            "params": str(args.params),
            "degradation_fingerprint": fingerprint(cfg),
            "sources": [images[i].name for i in sources],
        }
        (tmp / "synthesis.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        write_marker(tmp, "synthesize")
    print(f"wrote {args.count} pairs to {args.out_dir}")
    if reader.bad:
        log.error(f"synthesize: {len(reader.bad)} of {len(images)} GT image(s) could not be read and were skipped:")
        for why in reader.bad.values():
            log.error(f"  {why}")
        return 1
    return 0
