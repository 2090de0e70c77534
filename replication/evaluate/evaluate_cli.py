"""``replication evaluate``: run a model (or the Bicubic baseline) on a test set, save the SR images
and write tidy metric rows.

    replication evaluate --params params.yaml --model bicubic --name bicubic --source bicubic \\
        --dataset realsrset --input data/raw/realsrset --out-images results/sr/bicubic/realsrset \\
        --out-metrics results/metrics/bicubic/realsrset.csv

* ``--model``: ``bicubic`` (MATLAB bicubic x ``scale``, :mod:`replication.evaluate.bicubic`) or a
  ``.safetensors`` generator with its sidecar (``replication weights fetch`` / ``train``).
* Images: every image, or the ``evaluate.max_images`` smallest by pixel count (``--max-images``
  overrides), recorded in the ``subset`` column as ``full`` or ``smallest N of M``.
* Each SR image is written as ``<out-images>/<stem>.png`` (the input's bit depth, gray and alpha kept;
  alpha is resized bilinearly, it does not enter any metric), then read back, so the metrics are
  those of the saved file, which ``replication metrics`` reproduces.
* Metrics: ``--metrics`` or ``evaluate.metrics``; borders ``evaluate.nr_crop_border`` /
  ``evaluate.fr_crop_border``; full-reference metrics need ``--reference DIR``.
* Output: the tidy CSV (docs/CONTRACTS.md) and ``<out-metrics stem>.meta.json`` beside it with the
  run's provenance, timings and the metrics that were unavailable (with the file they need).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from replication.artifacts.metrics_table import TidyRow, write_tidy_csv
from replication.device import add_device_argument, describe, resolve_device
from replication.errors import UserError
from replication.evaluate.bicubic import bicubic_upscale
from replication.evaluate.registry import METRICS, parse_metric_list
from replication.evaluate.runner import (
    add_metric_resource_args,
    find_reference,
    read_rgb,
    select_images,
    summary_lines,
)
from replication.evaluate.scorers import MetricResources, build_scorers, score_image
from replication.fsutil import sha256_file, write_text_atomic
from replication.imageio import Image, read_image, write_image
from replication.params import fingerprint, load_params

FIXED_SOURCES = ("official", "official-fp16-rounded", "bicubic")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="parameter file")
    parser.add_argument("--profile", help="profile of the parameter file (default: its active profile)")
    parser.add_argument("--model", required=True, help="'bicubic' or a generator .safetensors file")
    parser.add_argument("--name", required=True, help="model name for the `model` column")
    parser.add_argument(
        "--source", required=True, help="official | official-fp16-rounded | retrained-<profile> | bicubic"
    )
    parser.add_argument("--dataset", required=True, help="test-set name for the `dataset` column")
    parser.add_argument("--input", required=True, type=Path, help="folder of low-quality input images")
    parser.add_argument("--out-images", required=True, type=Path, help="folder for the SR images")
    parser.add_argument("--out-metrics", required=True, type=Path, help="tidy metrics CSV to write")
    parser.add_argument("--metrics", help="comma-separated metric names (default: evaluate.metrics)")
    parser.add_argument(
        "--max-images", type=int, help="the N images with the fewest pixels, 0 = all (default: evaluate.max_images)"
    )
    parser.add_argument("--reference", type=Path, help="ground-truth folder (same stems) for full-reference metrics")
    add_device_argument(parser, "the network (metrics are computed on the CPU)")
    parser.add_argument("--tile", type=int, help="tile size for the network, 0 = whole image (default: evaluate.tile)")
    add_metric_resource_args(parser)


def check_source(source: str, model: str, profiles: list[str]) -> None:
    match = re.fullmatch(r"retrained-(.+)", source)
    if source not in FIXED_SOURCES and not match:
        raise UserError(f"--source {source!r}: expected one of {', '.join(FIXED_SOURCES)} or retrained-<profile>")
    if match and match.group(1) not in profiles:
        raise UserError(f"--source {source!r}: unknown profile {match.group(1)!r} (known: {', '.join(profiles)})")
    if (model == "bicubic") != (source == "bicubic"):
        raise UserError("--model bicubic goes with --source bicubic (and only with it)")


def make_upscaler(
    model: str, scale: int, tile: int, device: torch.device | str = "cpu"
) -> tuple[Callable[[Image], Image], dict]:
    """The function image -> SR image, and a description of the model for the provenance file."""
    if model == "bicubic":

        def bicubic(image: Image) -> Image:
            alpha = bicubic_upscale(image.alpha, scale) if image.alpha is not None else None
            return Image(rgb=bicubic_upscale(image.rgb, scale), alpha=alpha, bit_depth=image.bit_depth, gray=image.gray)

        return bicubic, {"kind": "bicubic", "kernel": "MATLAB imresize bicubic (a=-0.5)", "scale": scale}
    path = Path(model)
    if path.suffix != ".safetensors":
        raise UserError(f"--model {model}: expected 'bicubic' or a .safetensors file")
    if not path.is_file():
        raise UserError(f"--model {path}: file not found")
    from replication.archs.checkpoint import load_model
    from replication.archs.infer import model_scale, upscale_image

    net = load_model(path, device=device)
    info = {
        "kind": "network",
        "file": str(path),
        "sha256": sha256_file(path),
        "scale": model_scale(net),
        "checkpoint": getattr(net, "checkpoint_info", None),
    }

    def network(image: Image) -> Image:
        with torch.inference_mode():
            # Alpha only needs to be carried to the output file: resize it instead of a second pass.
            return upscale_image(net, image, tile=tile, alpha_mode="bilinear")

    return network, info


def _meta_path(out_metrics: Path) -> Path:
    return out_metrics.with_name(out_metrics.stem + ".meta.json")


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params, args.profile)
    profile = params.active
    cfg = profile.evaluate
    check_source(args.source, args.model, list(params.profiles))
    names = parse_metric_list(args.metrics) if args.metrics else list(cfg.metrics)
    max_images = cfg.max_images if args.max_images is None else args.max_images
    tile = cfg.tile if args.tile is None else args.tile
    if tile < 0:
        raise UserError(f"--tile must be >= 0, got {tile}")
    images, subset = select_images(args.input, max_images)
    stems = [p.stem for p in images]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise UserError(f"{args.input}: several images share the name {dup[0]!r}; their outputs would collide")
    if args.reference is not None and not args.reference.is_dir():
        raise UserError(f"{args.reference}: reference folder not found")

    resources = MetricResources(
        mirror=params.mirror_dir(),
        weights_dirs=tuple(args.weights_dir),
        nr_crop_border=cfg.nr_crop_border,
        fr_crop_border=cfg.fr_crop_border,
    )
    scorers, unavailable = build_scorers(names, resources)
    needs_ref = [n for n, s in scorers.items() if s.spec.kind == "fr"]
    if needs_ref and args.reference is None:
        raise UserError(f"metric(s) {', '.join(needs_ref)} need --reference DIR")
    device = resolve_device(args.device)
    upscale, model_info = make_upscaler(args.model, profile.scale, tile, device)

    rows: list[TidyRow] = []
    per_metric: dict[str, list[float]] = {n: [] for n in scorers}
    upscale_seconds: dict[str, float] = {}
    metric_seconds: dict[str, float] = {}
    args.out_images.mkdir(parents=True, exist_ok=True)
    for path in tqdm(images, desc=f"{args.name} on {args.dataset}", unit="img", file=sys.stderr):
        try:
            lq = read_image(path)
        except (FileNotFoundError, ValueError) as exc:
            raise UserError(str(exc)) from None
        start = time.perf_counter()
        sr = upscale(lq)
        upscale_seconds[path.name] = time.perf_counter() - start
        out_path = args.out_images / f"{path.stem}.png"
        write_image(out_path, sr.rgb, alpha=sr.alpha, bit_depth=sr.bit_depth, gray=sr.gray)
        saved = read_rgb(out_path)  # score exactly what was written
        ref = read_rgb(find_reference(args.reference, path)) if args.reference is not None else None
        values = score_image(
            scorers,
            saved,
            ref,
            path.name,
            seconds=metric_seconds,
            on_undefined=lambda m: tqdm.write(f"warning: {m}", file=sys.stderr),
        )
        for name, value in values.items():
            per_metric[name].append(value)
            rows.append(
                TidyRow(
                    args.name,
                    args.source,
                    params.profile,
                    args.dataset,
                    subset,
                    path.name,
                    name,
                    value,
                    METRICS[name].lower_better,
                )
            )

    write_tidy_csv(rows, args.out_metrics)
    meta = {
        "model": args.name,
        "source": args.source,
        "profile": params.profile,
        "dataset": args.dataset,
        "subset": subset,
        "input": str(args.input),
        "out_images": str(args.out_images),
        "images": [p.name for p in images],
        "model_info": model_info,
        "tile": tile,
        "metrics": list(scorers),
        "unavailable": unavailable,
        "crop_border": {"no_reference": cfg.nr_crop_border, "full_reference": cfg.fr_crop_border},
        "evaluate_fingerprint": fingerprint(cfg),
        "upscale_seconds": upscale_seconds,
        "metric_seconds": metric_seconds,
        "torch_threads": torch.get_num_threads(),
        "compute": describe(device) if args.model != "bicubic" else describe(torch.device("cpu")),
    }
    write_text_atomic(_meta_path(args.out_metrics), json.dumps(meta, indent=1, default=str) + "\n")
    total = sum(upscale_seconds.values())
    print(
        f"{args.name} ({args.source}) on {args.dataset}: {len(images)} images ({subset}), "
        f"upscaling {total:.1f} s ({total / len(images):.2f} s/img) -> {args.out_metrics}"
    )
    if metric_seconds:
        print("metric time per image: " + ", ".join(f"{k} {v / len(images):.2f} s" for k, v in metric_seconds.items()))
    for line in summary_lines(per_metric, unavailable):
        print(line)
    return 0
