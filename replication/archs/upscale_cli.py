"""``replication upscale``: super-resolve one image or every image of a folder.

    replication upscale --model models/official/realesrgan_x4plus.safetensors --input in/ --output out/ \
        [--tile 256 --tile-pad 10] [--device auto|cpu|cuda[:N]] [--half | --bf16] [--outscale 3.5]

Gray, RGB, RGBA (alpha by a second network pass) and 16-bit PNG inputs give the same kind of output.
For a folder, the output folder gets the same file names; an image that fails is reported and the
others still run (exit code 1 if any failed). Each output file is written atomically.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import cast

from replication.argtypes import nonneg_int, positive_float
from replication.device import add_device_argument, resolve_device


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model .safetensors (with its .json sidecar)")
    parser.add_argument("--input", required=True, help="an image file or a folder of images")
    parser.add_argument("--output", required=True, help="output image file, or folder when --input is a folder")
    parser.add_argument("--tile", type=nonneg_int, default=0, help="tile size in input pixels (0: whole image)")
    parser.add_argument("--tile-pad", type=nonneg_int, default=10, help="context pixels around each tile (default 10)")
    add_device_argument(parser, "the network")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--half", action="store_true", help="fp16 autocast (GPU)")
    precision.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    parser.add_argument(
        "--outscale", type=positive_float, help="final scale if different from the model's (Lanczos resize)"
    )
    parser.add_argument(
        "--alpha",
        choices=("network", "bilinear"),
        default="network",
        help="how to upscale an alpha channel (default: a second network pass)",
    )
    parser.add_argument("--suffix", default="", help="appended to output file stems in folder mode")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files / a foreign folder")


def _jobs(inp: Path, out: Path, suffix: str, model: Path, overwrite: bool) -> list[tuple[Path, Path]]:
    """(source, target) pairs, after the output safety checks (nothing is written yet)."""
    from replication.errors import UsageError, UserError
    from replication.imageio import IMAGE_SUFFIXES, list_images
    from replication.outputs import check_output, inside, name_part

    inputs = [("--input", inp), ("--model", model)]
    name_part(suffix, "--suffix")
    if inp.is_dir():
        if out.exists() and not out.is_dir():
            raise UsageError(f"--output {out}: --input is a folder, so --output must be a folder")
        files = list_images(inp)
        if not files:
            raise UserError(f"{inp}: no images found")
        check_output(out, command="upscale", flag="--output", kind="dir", inputs=inputs, overwrite=overwrite)
        return [(f, inside(out, f"{f.stem}{suffix}{f.suffix}", "--suffix")) for f in files]
    if not inp.is_file():
        raise UserError(f"--input {inp}: no such file or folder")
    target = out / inp.name if out.is_dir() else out
    if target.suffix.lower() not in IMAGE_SUFFIXES:
        raise UsageError(
            f"--output {out}: unknown image extension {target.suffix or '(none)'!r} "
            f"(use one of {', '.join(IMAGE_SUFFIXES)})"
        )
    check_output(target, command="upscale", flag="--output", kind="file", inputs=inputs, overwrite=overwrite)
    return [(inp, target)]


def run(args: argparse.Namespace) -> int:
    import torch

    from replication.archs.checkpoint import load_model
    from replication.archs.registry import GENERATORS
    from replication.batch import BatchFailures
    from replication.errors import UserError
    from replication.outputs import output_dir

    model_path = Path(args.model)
    if not model_path.is_file():
        raise UserError(
            f"{model_path}: model file not found (get official ones with `replication weights fetch NAME "
            f"--out {model_path}`)"
        )
    device = resolve_device(args.device)
    jobs = _jobs(Path(args.input), Path(args.output), args.suffix, model_path, args.overwrite)
    net = load_model(model_path, device=device)
    if net.arch_name not in GENERATORS:
        raise UserError(f"{model_path}: {net.arch_name} is not a super-resolution generator")
    if args.tile and getattr(net, "whole_image_only", False):
        raise UserError(
            f"{model_path}: {net.arch_name} uses whole-image statistics; tiling would change it (drop --tile)"
        )
    dtype = torch.float16 if args.half else torch.bfloat16 if args.bf16 else None
    failures = BatchFailures("upscale")
    # A folder is built under a hidden partial name and published by the --overwrite rule (outputs.py).
    with output_dir(args.output, "upscale", accumulate=True) if Path(args.input).is_dir() else nullcontext() as tmp:
        _upscale_jobs(net, jobs, tmp, args, dtype, failures)
    done = len(jobs) - len(failures)
    info = cast(dict, net.checkpoint_info)  # set by load_model
    rounded = " (fp16-rounded official weights)" if info.get("fp16_rounded") else ""
    print(f"upscaled {done}/{len(jobs)} image(s) with {model_path.name}{rounded} -> {args.output}")
    return failures.finish(len(jobs))


def _upscale_jobs(
    net, jobs: list[tuple[Path, Path]], tmp: Path | None, args: argparse.Namespace, dtype, failures
) -> None:
    from tqdm import tqdm

    from replication.archs.infer import upscale_image
    from replication.errors import UserError
    from replication.imageio import read_image, write_image

    for src, dst in tqdm(jobs, desc="upscale", unit="img", disable=args.no_progress or len(jobs) < 2, file=sys.stderr):
        dst = dst if tmp is None else tmp / dst.name
        try:
            image = read_image(src)
            result = upscale_image(
                net,
                image,
                tile=args.tile,
                tile_pad=args.tile_pad,
                dtype=dtype,
                outscale=args.outscale,
                alpha_mode=args.alpha,
            )
            write_image(dst, result.rgb, alpha=result.alpha, bit_depth=result.bit_depth, gray=result.gray)
        except (UserError, ValueError, OSError, RuntimeError) as exc:
            failures.add(exc, src)  # one bad image must not stop the batch
