"""The ``synthesize`` stage: LQ/GT training pairs made with a degradation variant.

Output (published atomically: the directory appears only when complete)::

    OUT/gt/000000.png   GT patch (not sharpened), gt_size x gt_size
    OUT/lq/000000.png   8-bit LQ patch, gt_size/scale
    OUT/synthesis.json  arguments, parameter fingerprint, source image of every pair

``replication synthesize`` (:mod:`replication.degrade.cli`) is the argparse adapter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from replication.degrade.config import check_gt_size
from replication.degrade.crop import paired_random_crop, prepare_gt
from replication.degrade.pipeline import Degrader
from replication.errors import UserError
from replication.fsutil import atomic_dir
from replication.imageio import ImageReadError, read_image, write_image
from replication.names import DegradationVariant
from replication.params import Params, fingerprint


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


def source_order(n_images: int, count: int, generator: torch.Generator) -> list[int]:
    """Image index for each pair: shuffled passes over the folder, as many as needed."""
    order: list[int] = []
    while len(order) < count:
        order.extend(torch.randperm(n_images, generator=generator).tolist())
    return order[:count]


def _read_gt(path: Path) -> torch.Tensor:
    try:
        return read_image(path).rgb[0]
    except (FileNotFoundError, ImageReadError) as exc:
        raise UserError(str(exc)) from None


def synthesize(params: Params, req: SynthesisRequest) -> None:
    """Write ``req.count`` pairs to ``req.out_dir`` (replaced atomically)."""
    cfg = params.active.degradation
    if req.count <= 0 or req.batch_size <= 0:
        raise UserError(f"--count and --batch-size must be positive, got {req.count} and {req.batch_size}")
    try:
        check_gt_size(req.gt_size, cfg.gt_crop, req.scale, "--gt-size")
    except ValueError as exc:
        raise UserError(str(exc)) from None
    degrader = Degrader(cfg, req.variant, req.scale, req.device)
    generator = torch.Generator().manual_seed(req.seed)
    sources = source_order(len(req.images), req.count, generator)
    with atomic_dir(req.out_dir) as tmp, tqdm(total=req.count, unit="pair", desc=req.variant) as bar:
        for start in range(0, req.count, req.batch_size):
            batch_sources = sources[start : start + req.batch_size]
            crops = [prepare_gt(_read_gt(req.images[i]), cfg.gt_crop, cfg.hflip, generator) for i in batch_sources]
            out = degrader(torch.stack(crops), generator)
            gt_patch, lq_patch = paired_random_crop(out.gt, out.lq, req.gt_size, req.scale, generator)
            for j in range(len(batch_sources)):
                name = f"{start + j:06d}.png"
                write_image(tmp / "gt" / name, gt_patch[j : j + 1])
                write_image(tmp / "lq" / name, lq_patch[j : j + 1])
            bar.update(len(batch_sources))
        meta = {
            "variant": req.variant,
            "seed": req.seed,
            "scale": req.scale,
            "gt_size": req.gt_size,
            "count": req.count,
            "batch_size": req.batch_size,
            "device": str(req.device),
            "profile": params.profile,
            "params": str(req.params_path),
            "degradation_fingerprint": fingerprint(cfg),
            "sources": [req.images[i].name for i in sources],
        }
        (tmp / "synthesis.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
