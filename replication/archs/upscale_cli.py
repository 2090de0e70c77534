"""``replication upscale``: super-resolve one image or every image of a folder.

    replication upscale -n realesrgan_x4plus -i in/ -o out/ [--suffix out] [--ext auto|png|jpg] \
        [--tile 256 --tile-pad 10] [--device auto|cpu|cuda[:N]] [--half | --bf16] [--outscale 3.5]

``-n/--model``: our ``.safetensors``, an official ``.pth``, any model spandrel loads (optional extra),
or a weights-registry name, fetched once (mirror first) into the cache folder
(:mod:`replication.archs.resolve`; ``--cache-dir``). Gray, RGB, RGBA (alpha by a second network pass)
and 16-bit PNG inputs give the same kind of output. Into a folder, each output is named
``<stem>_<suffix>.<ext>`` as the official tool names them (:func:`output_file`); an image that fails
is reported and the others still run (exit code 1 if any failed). Each output file is written
atomically; a folder is built under a hidden partial name and published at the end (docs/cli.md).
Tiles of one large image show their own progress bar.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import cast

from replication.argtypes import nonneg_int, positive_float
from replication.device import add_device_argument, resolve_device

EXTENSIONS = ("auto", "png", "jpg")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-n",
        "--model",
        required=True,
        help="model file (our .safetensors, an official .pth, any model spandrel loads) or a weights-registry "
        "name such as realesrgan_x4plus (fetched once, mirror first, into the cache folder)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="where registry models are kept (default: $REPLICATION_CACHE/weights, else ~/.cache/replication/weights)",
    )
    parser.add_argument("-i", "--input", required=True, help="an image file or a folder of images")
    parser.add_argument(
        "-o", "--output", required=True, help="output image file, or a folder (outputs named <stem>_<suffix>.<ext>)"
    )
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
    parser.add_argument(
        "--suffix", default="out", help="outputs into a folder are named <stem>_<suffix>.<ext> ('' : <stem>.<ext>)"
    )
    parser.add_argument(
        "--ext",
        choices=EXTENSIONS,
        default="auto",
        help="extension of outputs into a folder; auto: the input's (images with alpha, and 16-bit ones "
        "unless tif, are written as png)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files / a foreign folder")


def output_file(src: Path, folder: Path, suffix: str, ext: str, image=None) -> Path:
    """``<folder>/<stem>_<suffix>.<ext>`` (``<stem>.<ext>`` when ``suffix`` is empty), as the official tool
    names its outputs. ``ext`` auto keeps the input's extension. An ``image`` (the result) with alpha is
    written as png whatever ``ext`` says, as the official tool does; one with 16 bits too, unless tif."""
    from replication.outputs import inside, name_part

    extension = src.suffix.lower().lstrip(".") if ext == "auto" else ext
    if image is not None and (image.alpha is not None or (image.bit_depth == 16 and extension not in ("tif", "tiff"))):
        extension = "png"
    # the one file-name guard (outputs.py): a suffix never leads outside the output folder
    return inside(folder, f"{src.stem}{'_' + name_part(suffix, '--suffix') if suffix else ''}.{extension}", "--suffix")


def _jobs(inp: Path, out: Path, args: argparse.Namespace) -> list[tuple[Path, Path, bool]]:
    """(source, target, named by output_file) triples, after the output safety checks (nothing is written yet)."""
    from replication.errors import UsageError, UserError
    from replication.imageio import IMAGE_SUFFIXES, list_images
    from replication.outputs import check_output, name_part

    inputs = [("--input", inp), ("--model", Path(args.model))]
    name_part(args.suffix, "--suffix")
    if inp.is_dir():
        if out.exists() and not out.is_dir():
            raise UsageError(f"--output {out}: --input is a folder, so --output must be a folder")
        files = list_images(inp)
        if not files:
            raise UserError(f"{inp}: no images found")
        check_output(out, command="upscale", flag="--output", kind="dir", inputs=inputs, overwrite=args.overwrite)
        return [(f, output_file(f, out, args.suffix, args.ext), True) for f in files]
    if not inp.is_file():
        raise UserError(f"--input {inp}: no such file or folder")
    named = out.is_dir()
    target = output_file(inp, out, args.suffix, args.ext) if named else out
    if target.suffix.lower() not in IMAGE_SUFFIXES:
        raise UsageError(
            f"--output {out}: unknown image extension {target.suffix or '(none)'!r} "
            f"(use one of {', '.join(IMAGE_SUFFIXES)}, or an existing folder)"
        )
    if not named and args.ext != "auto" and target.suffix.lower().lstrip(".") != args.ext:
        raise UsageError(f"--ext {args.ext} names a folder output's extension; --output {out} already has one")
    check_output(target, command="upscale", flag="--output", kind="file", inputs=inputs, overwrite=args.overwrite)
    return [(inp, target, named)]


def _load(args: argparse.Namespace, device):
    from replication.archs.loading import load_generator
    from replication.archs.resolve import resolve_model

    path = resolve_model(args.model, cache=args.cache_dir, progress=not args.no_progress)
    return path, load_generator(path, device=device)


def run(args: argparse.Namespace) -> int:
    import torch

    from replication.archs.resolve import check_spec
    from replication.batch import BatchFailures
    from replication.errors import UserError
    from replication.outputs import output_dir

    check_spec(args.model)  # a missing model before the output checks: the likelier mistake
    device = resolve_device(args.device)
    jobs = _jobs(Path(args.input), Path(args.output), args)
    model_path, net = _load(args, device)
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
    info = cast(dict, net.checkpoint_info)  # set by every loader
    rounded = " (fp16-rounded official weights)" if info.get("fp16_rounded") else ""
    print(f"upscaled {done}/{len(jobs)} image(s) with {model_path.name}{rounded} -> {args.output}")
    return failures.finish(len(jobs))


def _upscale_jobs(
    net, jobs: list[tuple[Path, Path, bool]], tmp: Path | None, args: argparse.Namespace, dtype, failures
) -> None:
    from tqdm import tqdm

    from replication.archs.infer import upscale_image
    from replication.errors import UserError
    from replication.imageio import read_image, write_image
    from replication.outputs import check_output

    for src, dst, named in tqdm(
        jobs, desc="upscale", unit="img", disable=args.no_progress or len(jobs) < 2, file=sys.stderr
    ):
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
                progress=not args.no_progress,
            )
            if named and (png := output_file(src, dst.parent, args.suffix, args.ext, result)) != dst:
                # alpha / 16 bits are only known now: they turn a jpg name into png (checked like the first)
                if tmp is None:
                    inputs = [("--input", src)]
                    check_output(
                        png, command="upscale", flag="--output", kind="file", inputs=inputs, overwrite=args.overwrite
                    )
                dst = png
            write_image(dst, result.rgb, alpha=result.alpha, bit_depth=result.bit_depth, gray=result.gray)
        except (UserError, ValueError, OSError, RuntimeError) as exc:
            failures.add(exc, src)  # one bad image must not stop the batch
