"""The ``synthesize`` stage: LQ/GT training pairs made with a degradation variant.

Output (published atomically: the directory appears only when complete)::

    OUT/gt/000000.png   GT patch (not sharpened), gt_size x gt_size
    OUT/lq/000000.png   8-bit LQ patch, gt_size/scale
    OUT/synthesis.json  arguments, parameter fingerprint, source image of every pair

``replication synthesize`` (:mod:`replication.degrade.cli`) is the argparse adapter.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from replication.degrade.config import DegradationConfig, check_gt_size
from replication.degrade.crop import paired_random_crop, prepare_gt
from replication.degrade.pipeline import Degrader
from replication.errors import UsageError, UserError
from replication.imageio import check_pixels, read_image, write_image
from replication.names import DegradationVariant
from replication.outputs import output_dir
from replication.params import Params, fingerprint

log = logging.getLogger("replication.synthesize")

# The reference pipeline pads/crops every GT to 400 px before degrading it (the paper profile's
# degradation.gt_crop). A standalone call asking for patches larger than the active profile's crop
# gets this crop instead of an error.
PAPER_GT_CROP = 400


@dataclass(frozen=True)
class SynthesisRequest:
    images: list[Path]  # the GT images (sources are drawn from them)
    out_dir: Path
    count: int
    seed: int
    variant: DegradationVariant
    scale: int
    gt_size: int
    batch_size: int
    device: torch.device
    params_path: Path  # recorded in synthesis.json
    progress: bool = True
    pad_small: bool = False  # --pad-small: GT images smaller than gt_size are reflect-padded, not refused


def check_gt_sizes(images: list[Path], gt_size: int, pad_small: bool) -> None:
    """Refuse GT images with a side shorter than ``gt_size`` (read from the headers, before any work):
    their patches would be mostly mirrored padding. ``--pad-small`` accepts them (reflect-101 padding,
    as the reference pads every GT to its 400 px crop). Unreadable files are reported later, per file."""
    if pad_small:
        return
    from PIL import Image as PILImage

    small = []
    for path in images:
        try:
            with PILImage.open(path) as im:
                if min(im.size) < gt_size:
                    small.append(f"{path.name} ({im.width}x{im.height})")
        except (OSError, ValueError, PILImage.DecompressionBombError):
            continue
    if small:
        more = f" and {len(small) - 5} more" if len(small) > 5 else ""
        raise UserError(
            f"--gt-dir: {len(small)} GT image(s) smaller than --gt-size {gt_size}: {', '.join(small[:5])}{more}; "
            f"use a smaller --gt-size, remove them, or pass --pad-small to reflect-pad them"
        )


def source_order(n_images: int, count: int, generator: torch.Generator) -> list[int]:
    """Image index for each pair: shuffled passes over the folder, as many as needed."""
    order: list[int] = []
    while len(order) < count:
        order.extend(torch.randperm(n_images, generator=generator).tolist())
    return order[:count]


def crop_for(cfg: DegradationConfig, gt_size: int, scale: int) -> DegradationConfig:
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


class GtSources:
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


def synthesize(params: Params, req: SynthesisRequest) -> dict[Path, str]:
    """Write ``req.count`` pairs to ``req.out_dir`` (replaced atomically); returns the unreadable GT files."""
    if req.gt_size % req.scale:
        raise UsageError(f"--gt-size {req.gt_size} must be divisible by --scale {req.scale} (the LQ is gt-size/scale)")
    check_gt_sizes(req.images, req.gt_size, req.pad_small)
    cfg = crop_for(params.active.degradation, req.gt_size, req.scale)
    # the pixel budget (--max-pixels) also bounds what one batch holds at once, before any work
    batch = min(req.batch_size, req.count)
    check_pixels(cfg.gt_crop * batch, cfg.gt_crop, f"--gt-size {req.gt_size} x --batch-size {batch} (GT crops at once)")
    try:
        check_gt_size(req.gt_size, cfg.gt_crop, req.scale, "--gt-size")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    degrader = Degrader(cfg, req.variant, req.scale, req.device)
    generator = torch.Generator().manual_seed(req.seed)
    sources = source_order(len(req.images), req.count, generator)
    reader = GtSources(req.images)
    bar = tqdm(total=req.count, unit="pair", desc=req.variant, disable=not req.progress)
    with output_dir(req.out_dir, "synthesize") as tmp, bar:
        for start in range(0, req.count, req.batch_size):
            crops = []
            for k in range(start, min(start + req.batch_size, req.count)):
                sources[k], rgb = reader.read(sources[k])
                crops.append(prepare_gt(rgb, cfg.gt_crop, cfg.hflip, generator))
            out = degrader(torch.stack(crops), generator)
            gt_patch, lq_patch = paired_random_crop(out.gt, out.lq, req.gt_size, req.scale, generator)
            for j in range(len(crops)):
                name = f"{start + j:06d}.png"
                write_image(tmp / "gt" / name, gt_patch[j : j + 1])
                write_image(tmp / "lq" / name, lq_patch[j : j + 1])
            bar.update(len(crops))
        meta = {
            "variant": req.variant,
            "seed": req.seed,
            "scale": req.scale,
            "gt_size": req.gt_size,
            "gt_crop": cfg.gt_crop,
            "count": req.count,
            "batch_size": req.batch_size,
            **({"pad_small": True} if req.pad_small else {}),
            "device": str(req.device),
            "profile": params.profile,
            "params": str(req.params_path),
            "degradation_fingerprint": fingerprint(cfg),
            "sources": [req.images[i].name for i in sources],
        }
        (tmp / "synthesis.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return reader.bad
