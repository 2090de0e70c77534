"""Shared pieces of ``replication metrics`` and ``replication evaluate``: image selection, scoring a
folder into tidy rows, metric resources from the command line, references, and the printed summary."""

from __future__ import annotations

import argparse
import os
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from replication.artifacts.metrics_table import TidyRow, subset_label
from replication.batch import BatchFailures
from replication.errors import UserError
from replication.evaluate.registry import METRICS
from replication.evaluate.scorers import Scorer, score_image
from replication.imageio import list_images, read_image
from replication.paramfile import MIRROR_ENV, read_params


def select_images(
    folder: str | os.PathLike, max_images: int, selection: str = "smallest", seed: int = 0
) -> tuple[list[Path], str]:
    """The images of ``folder`` (sorted by name) or, with ``max_images`` > 0, a subset of that many
    (returned in name order) and the ``subset`` label (``full``, ``smallest N of M`` or ``random N of M
    (seed S)``).

    ``smallest``: the ones with the fewest pixels (ties broken by name). A subset exists to bound the
    cost of running the x4 networks on a CPU, and cost grows with pixel count (the first three demo
    inputs by name are its largest); but the smallest images are not a sample of the set.
    ``random``: drawn without replacement by a generator seeded with ``seed`` and the set's sorted
    file names (not its path), so the same files give the same sample on every machine while two
    sets get independent draws."""
    folder = Path(folder)
    try:
        images = list_images(folder)
    except FileNotFoundError:
        raise UserError(f"{folder}: input folder not found") from None
    if not images:
        raise UserError(f"{folder}: no image files (.png, .jpg, ...) in this folder")
    if max_images < 0:
        raise UserError(f"--max-images must be >= 0 (0 = all), got {max_images}")
    if not max_images or max_images >= len(images):
        return images, subset_label(len(images), len(images))
    if selection == "smallest":
        chosen = sorted(sorted(images, key=lambda p: (_pixel_count(p), p.name))[:max_images])
    elif selection == "random":
        by_name = sorted(images, key=lambda p: p.name)
        names = "\n".join(p.name for p in by_name).encode("utf-8")
        rng = np.random.default_rng([seed, zlib.crc32(names)])
        picked = rng.choice(len(by_name), size=max_images, replace=False)
        chosen = sorted(by_name[i] for i in picked.tolist())
    else:
        raise UserError(f"unknown image selection {selection!r} (known: smallest, random)")
    return chosen, subset_label(len(chosen), len(images), selection, seed)


def _pixel_count(path: Path) -> int:
    """Width × height from the file header (no full decode)."""
    from PIL import Image as PILImage

    try:
        with PILImage.open(path) as im:
            return im.width * im.height
    except OSError:
        raise UserError(f"{path}: cannot read the image header") from None


def find_reference(ref_dir: Path, image: Path) -> Path:
    """The reference image with the same file stem as ``image`` in ``ref_dir``."""
    matches = [p for p in list_images(ref_dir) if p.stem == image.stem]
    if not matches:
        raise UserError(f"{image.name}: no reference image named {image.stem}.* in {ref_dir}")
    if len(matches) > 1:
        raise UserError(f"{image.name}: several reference images match in {ref_dir}: {[m.name for m in matches]}")
    return matches[0]


def utf8_name(path: Path) -> str:
    """The file name, refused (naming it) when it is not valid UTF-8: it goes into a UTF-8 CSV."""
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(f"{str(path)!a}: the file name is not valid UTF-8; rename the file") from None
    return path.name


def read_rgb(path: Path):
    """RGB (1, 3, H, W) float32 in [0, 1] of an image file (alpha ignored), with a clear error."""
    try:
        return read_image(path).rgb
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None


def add_metric_resource_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights-dir",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="folder with metric weight/parameter files (repeatable); the mirror's metrics/ is always searched",
    )


def mirror_from(params_path: Path | None) -> Path | None:
    """The offline mirror: ``$REPLICATION_MIRROR``, else ``mirror:`` of params.yaml if that file exists."""
    env = os.environ.get(MIRROR_ENV)
    if env:
        return Path(env).expanduser()
    if params_path is not None and params_path.is_file():
        return read_params(params_path).mirror_dir()
    return None


def summary_lines(values: Mapping[str, Sequence[float]], unavailable: Mapping[str, str]) -> list[str]:
    """Human-readable summary: mean, std, n per metric, direction, and the unavailable metrics."""
    lines = []
    for name, vals in values.items():
        arr = np.asarray(vals, dtype=np.float64)
        finite = arr[np.isfinite(arr)]
        arrow = "lower is better" if METRICS[name].lower_better else "higher is better"
        if finite.size:
            std = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
            text = f"mean {finite.mean():.4f}  std {std:.4f}  n {finite.size}"
        else:
            text = "no finite value"
        skipped = int(arr.size - finite.size)
        extra = f"  ({skipped} undefined)" if skipped else ""
        lines.append(f"{name:>9}: {text}{extra}  [{arrow}]")
    for name, reason in unavailable.items():
        lines.append(f"{name:>9}: {reason}")
    return lines


@dataclass(frozen=True)
class ImageScores:
    image: str  # the `image` column
    values: dict[str, float]  # metric -> value (NaN where undefined)


def _warn(message: str) -> None:
    tqdm.write(f"warning: {message}", file=sys.stderr)


def score_folder(
    images: Sequence[Path],
    scorers: dict[str, Scorer],
    reference: Path | None,
    *,
    seconds: dict[str, float] | None = None,
    names: Sequence[str] | None = None,
    on_undefined: Callable[[str], None] = _warn,
    failures: BatchFailures | None = None,
    progress: bool = True,
) -> list[ImageScores]:
    """Every scorer on every image (a reference with the same stem from ``reference`` when given).
    ``names`` are the `image` column values (default: the files' names). With ``failures``, an image
    that cannot be read is reported there and skipped; without, its error propagates."""
    names = [p.name for p in images] if names is None else names
    out = []
    pairs = list(zip(images, names, strict=True))
    for path, name in tqdm(pairs, desc="metrics", unit="img", file=sys.stderr, disable=not scorers or not progress):
        try:
            utf8_name(Path(name))
            sr = read_rgb(path)
            ref = read_rgb(find_reference(reference, path)) if reference is not None else None
            values = score_image(scorers, sr, ref, name, on_undefined=on_undefined, seconds=seconds)
        except (UserError, ValueError, RuntimeError) as exc:
            if failures is None:
                raise
            failures.add(exc, path)
            continue
        out.append(ImageScores(name, values))
    return out


def tidy_rows(
    scores: Sequence[ImageScores], model: str, source: str, profile: str, dataset: str, subset: str
) -> list[TidyRow]:
    """The tidy metrics rows (:mod:`replication.artifacts.metrics_table`) of scored images."""
    return [
        TidyRow(model, source, profile, dataset, subset, s.image, name, value, METRICS[name].lower_better)
        for s in scores
        for name, value in s.values.items()
    ]


def all_undefined(values: Mapping[str, Sequence[float]], asked: Sequence[str]) -> list[str]:
    """The metrics of ``asked`` that were computed but have no finite value at all (e.g. NIQE on
    images smaller than two 96 px blocks): asked for explicitly, that is a failure, not a summary line."""
    return [n for n in asked if n in values and values[n] and not np.isfinite(np.asarray(values[n], float)).any()]


def per_metric(scores: Sequence[ImageScores]) -> dict[str, list[float]]:
    """metric -> the values of every image, for :func:`summary_lines`."""
    out: dict[str, list[float]] = {}
    for s in scores:
        for name, value in s.values.items():
            out.setdefault(name, []).append(value)
    return out
