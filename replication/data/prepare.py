"""Training-data preparation as in the paper: multi-scale copies, then sub-images in tar shards.

Recipe (the official training guide and its preparation scripts):

1. **Multi-scale** (only for the sets in ``data.multiscale_sets``; DF2K in the paper): besides the
   original, PIL LANCZOS copies at each factor ``f`` of ``data.multiscale_factors`` with size
   ``(int(w*f), int(h*f))``, named ``<stem>T0``, ``<stem>T1``, ...; then one more copy whose
   shortest edge is ``data.multiscale_shortest_edge`` (the other edge ``int(edge * long/short)``).
2. **Sub-images**: each image is cut into ``crop_size`` squares at positions ``0, step, 2*step, ...``
   up to ``size - crop_size`` along each axis, plus a last position at ``size - crop_size`` when the
   remaining border exceeds ``thresh_size``. Names are ``<stem>_s001.png``, ``_s002``, ... in
   row-major order.

Deviations (documented): the reference fails on images smaller than ``crop_size``; here an axis
shorter than ``crop_size`` is kept whole (one position, the full length), so small images give
smaller sub-images instead of an error. Alpha channels are dropped (RGBA -> RGB without
compositing); 16-bit images are reduced to 8 bits by dropping the low byte, as OpenCV's
``IMREAD_COLOR`` (the reference's training reader) does. Pixels stay 8-bit end to end (the
LANCZOS resize runs on 8-bit images, as in the reference), so no float conversion happens here.

Output (``out/``, published atomically as a whole; the shard format is :mod:`replication.data.subimages`)::

    shards/000000.tar, 000001.tar, ...   PNG members <set>/<relative stem><Tk>_sNNN.png, shard_size each
    meta_info.txt                       one line per sub-image: shards/000000.tar/<member> (h,w,c)
    index.tsv                           data offset and size of each line's member (fast start-up)
    prepare.json                        the data config, per-set counts and the source file list

Tar members get fixed metadata (mtime 0, uid 0), so the output is byte-for-byte reproducible; the
shards keep DVC fast with ~200k sub-images (see docs on many small files).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from replication.data import registry
from replication.data.config import DataConfig
from replication.data.subimages import ShardWriter
from replication.errors import UserError
from replication.outputs import output_dir

PNG_COMPRESSION = 3  # the reference's extract_subimages level; lossless, affects only size and speed
INFO_JSON = "prepare.json"


def crop_positions(length: int, crop: int, step: int, thresh: int) -> list[tuple[int, int]]:
    """(start, extent) of the sub-images along one axis of ``length`` pixels.

    ``0, step, 2*step, ...`` while the crop fits, plus ``length - crop`` if the border left after the
    last crop is larger than ``thresh``. An axis shorter than ``crop`` gives one full-length piece.
    """
    if length <= crop:
        return [(0, length)]
    starts = list(range(0, length - crop + 1, step))
    if length - (starts[-1] + crop) > thresh:
        starts.append(length - crop)
    return [(s, crop) for s in starts]


def multiscale_sizes(
    width: int, height: int, factors: Sequence[float], shortest_edge: int
) -> list[tuple[str, int, int]]:
    """(suffix, width, height) of the extra copies: ``T0..`` per factor, then the shortest-edge copy."""
    sizes = [(f"T{i}", int(width * f), int(height * f)) for i, f in enumerate(factors)]
    if shortest_edge > 0:
        if width < height:
            new_w, new_h = shortest_edge, int(shortest_edge * (height / width))
        else:
            new_w, new_h = int(shortest_edge * (width / height)), shortest_edge
        sizes.append((f"T{len(factors)}", new_w, new_h))
    return sizes


@dataclass(frozen=True)
class _Job:
    set_name: str
    path: str
    stem: str  # relative to the set's image folder, without suffix, '/'-separated
    multiscale: bool
    factors: tuple[float, ...]
    shortest_edge: int
    crop: int
    step: int
    thresh: int


def _process(job: _Job) -> list[tuple[str, bytes, tuple[int, int, int]]]:
    """All sub-images of one source image: [(member name, PNG bytes, (h, w, c))]."""
    from PIL import Image

    # Pixel conversions live in imageio (which loads torch and OpenCV): imported on first use.
    from replication.imageio import encode_png_rgb8, load_rgb8

    img = load_rgb8(Path(job.path))
    variants = [("", img)]
    if job.multiscale:
        w, h = img.size
        for suffix, nw, nh in multiscale_sizes(w, h, job.factors, job.shortest_edge):
            if nw < 1 or nh < 1:
                raise UserError(f"{job.path}: multi-scale copy {suffix} would be {nw}x{nh} pixels")
            variants.append((suffix, img.resize((nw, nh), resample=Image.Resampling.LANCZOS)))
    out = []
    for suffix, variant in variants:
        arr = np.asarray(variant)
        height, width = arr.shape[:2]
        index = 0
        for y, ch in crop_positions(height, job.crop, job.step, job.thresh):
            for x, cw in crop_positions(width, job.crop, job.step, job.thresh):
                index += 1
                piece = arr[y : y + ch, x : x + cw]
                name = f"{job.set_name}/{job.stem}{suffix}_s{index:03d}.png"
                out.append((name, encode_png_rgb8(piece, PNG_COMPRESSION), (ch, cw, 3)))
    return out


@dataclass(frozen=True)
class PrepareSummary:
    out_dir: str
    source_images: int
    sub_images: int
    shards: int
    per_set: dict[str, int]


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _run_jobs(jobs: list[_Job], workers: int) -> Iterator[list[tuple[str, bytes, tuple[int, int, int]]]]:
    """Results in job order (so the output does not depend on the number of workers)."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield _process(job)
        return
    # spawn: the parent may hold torch/OpenMP threads, which fork does not carry over safely.
    from replication.imageio import max_pixels, set_max_pixels

    # spawned workers start from the default pixel budget: hand them this process's (--max-pixels)
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=set_max_pixels, initargs=(max_pixels(),)
    )
    with pool:
        yield from pool.map(_process, jobs)


def prepare_subimages(
    images: Mapping[str, Sequence[Path]],
    image_roots: Mapping[str, Path],
    cfg: DataConfig,
    out_dir: str | os.PathLike,
    workers: int | None = None,
    progress: bool = True,
) -> PrepareSummary:
    """Build ``out_dir`` from ``images[set] = [files]`` (relative names taken from ``image_roots[set]``).

    Sets are processed in mapping order, files in the given order; multi-scale copies are made for
    sets listed in ``cfg.multiscale_sets``.
    """
    from tqdm import tqdm

    jobs = []
    sources: dict[str, list[str]] = {}
    for set_name, files in images.items():
        root = Path(image_roots[set_name])
        sources[set_name] = []
        for path in files:
            rel = Path(path).relative_to(root).with_suffix("").as_posix()
            sources[set_name].append(Path(path).relative_to(root).as_posix())
            jobs.append(
                _Job(
                    set_name,
                    str(path),
                    rel,
                    set_name in cfg.multiscale_sets,
                    tuple(cfg.multiscale_factors),
                    cfg.multiscale_shortest_edge,
                    cfg.crop_size,
                    cfg.crop_step,
                    cfg.thresh_size,
                )
            )
    if not jobs:
        raise UserError("no source images to prepare")
    workers = default_workers() if workers is None else workers
    per_set = dict.fromkeys(images, 0)
    out_dir = Path(out_dir)
    with output_dir(out_dir, "prepare") as tmp:
        os.chmod(tmp, 0o755)
        writer = ShardWriter(tmp, cfg.shard_size)
        try:
            bar = tqdm(total=len(jobs), unit="img", desc="prepare", disable=not progress, file=sys.stderr)
            with bar:
                for job, result in zip(jobs, _run_jobs(jobs, workers), strict=True):
                    for name, data, shape in result:
                        writer.add(name, data, shape)
                    per_set[job.set_name] += len(result)
                    bar.update(1)
        finally:
            writer.close()
        writer.write_lists()
        shards = -(-writer.count // cfg.shard_size)
        info = {
            "data": asdict(cfg),
            "source_images": len(jobs),
            "sub_images": writer.count,
            "shards": shards,
            "per_set": per_set,
            "sources": sources,
        }
        (tmp / INFO_JSON).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return PrepareSummary(str(out_dir), len(jobs), writer.count, shards, per_set)


def prepare_training_data(
    cfg: DataConfig,
    raw_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    workers: int | None = None,
    progress: bool = True,
) -> PrepareSummary:
    """The ``replication prepare`` stage: every set of ``cfg.train_sets`` from ``raw_root``."""
    raw_root = Path(raw_root)
    images = {}
    roots = {}
    for name in cfg.train_sets:
        images[name] = registry.image_files(raw_root, name)
        roots[name] = registry.image_dir(raw_root, name)
    return prepare_subimages(images, roots, cfg, out_dir, workers=workers, progress=progress)


__all__ = [
    "INFO_JSON",
    "PrepareSummary",
    "crop_positions",
    "multiscale_sizes",
    "prepare_subimages",
    "prepare_training_data",
]
