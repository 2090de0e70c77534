"""The Python API: the command-line tools as four functions (re-exported lazily by ``replication``).

    from replication import load_model, upscale_image, score_images, synthesize_pairs

    net = load_model("realesrgan_x4plus")                   # or "my.pth", "model.safetensors"
    sr = upscale_image(net, "photo.png", tile=256)          # an Image (float32 RGB in [0, 1], NCHW)
    scores = score_images("out/", metrics=("niqe",))        # {image name: {metric: value}}
    synthesize_pairs("hr/", "pairs/", count=100, seed=0)   # LQ/GT pairs with the paper's degradation

Each function is a thin layer over the code the commands run, so the API gives the same numbers as
``replication upscale`` / ``metrics`` / ``synthesize``. Errors are :class:`replication.errors.UserError`
with a message that names the file or value.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from replication.imageio import Image

__all__ = ["Image", "load_model", "read_image", "score_images", "synthesize_pairs", "upscale_image", "write_image"]

PathLike = str | os.PathLike


def load_model(model: PathLike, device: str | torch.device = "cpu", *, cache_dir: PathLike | None = None) -> nn.Module:
    """A super-resolution network in eval mode: our ``.safetensors``, an official ``.pth`` (RRDBNet,
    SRVGGNetCompact, DAN, CDC key names; read with ``torch.load(weights_only=True)``), any model spandrel
    loads (the ``spandrel`` extra), or a weights-registry name fetched once into ``cache_dir`` (default
    ``$REPLICATION_CACHE/weights`` or ``~/.cache/replication/weights``; the mirror is tried first)."""
    from replication.archs.loading import load_generator
    from replication.archs.resolve import resolve_model

    path = resolve_model(model, cache=Path(cache_dir) if cache_dir is not None else None)
    return load_generator(path, device=device)


def read_image(path: PathLike) -> Image:
    """Decode an image file (8/16-bit, gray, RGB, RGBA) into an :class:`Image`."""
    from replication.imageio import read_image as _read

    return _read(path)


def write_image(path: PathLike, image: Image) -> Path:
    """Encode ``image`` to ``path`` (format from the extension; written atomically)."""
    from replication.imageio import write_image as _write

    return _write(path, image.rgb, alpha=image.alpha, bit_depth=image.bit_depth, gray=image.gray)


def _as_image(image: Image | PathLike | np.ndarray) -> Image:
    from replication.imageio import image_from_array

    if isinstance(image, Image):
        return image
    if isinstance(image, np.ndarray):
        # numpy arrays as most Python code holds them: RGB(A) channel order, uint8 or uint16
        if image.ndim == 3 and image.shape[2] in (3, 4):
            order = [2, 1, 0] + ([3] if image.shape[2] == 4 else [])
            image = image[:, :, order]
        return image_from_array(np.ascontiguousarray(image))
    return read_image(image)


def upscale_image(
    model: nn.Module | PathLike,
    image: Image | PathLike | np.ndarray,
    *,
    tile: int = 0,
    tile_pad: int = 10,
    outscale: float | None = None,
    alpha: str = "network",
    dtype: torch.dtype | None = None,
    progress: bool = False,
) -> Image:
    """Super-resolve one image: an :class:`Image`, a file path, or an (H, W[, 3|4]) uint8/uint16 array in
    RGB(A) order. ``model``: a network from :func:`load_model` or anything it takes. Tiling, alpha and
    ``outscale`` as ``replication upscale``. Returns an :class:`Image` (``.rgb`` (1, 3, sH, sW) float32)."""
    from replication.archs.infer import upscale_image as _upscale

    net = model if isinstance(model, nn.Module) else load_model(model)
    return _upscale(
        net,
        _as_image(image),
        tile=tile,
        tile_pad=tile_pad,
        dtype=dtype,
        outscale=outscale,
        alpha_mode=alpha,
        progress=progress,
    )


def score_images(
    images: PathLike | Sequence[PathLike],
    metrics: Sequence[str] = ("niqe",),
    *,
    reference: PathLike | None = None,
    crop_border: int | None = None,
    mirror: PathLike | None = None,
    weights_dirs: Sequence[PathLike] = (),
) -> dict[str, dict[str, float]]:
    """``{image name: {metric: value}}`` for a folder or a list of image files, as ``replication metrics``
    computes them (NaN where a metric is undefined, e.g. NIQE below 2 blocks of 96 px). Full-reference
    metrics (psnr, ssim, lpips) need ``reference``: a folder with the same file stems. Border crop:
    ``crop_border`` for every metric, else 0 for no-reference and 4 for full-reference ones. A metric
    that cannot run here (a file it needs is missing) is an error naming the file."""
    from replication.errors import UserError
    from replication.evaluate.registry import parse_metric_list
    from replication.evaluate.runner import score_folder
    from replication.evaluate.scorers import MetricResources, build_scorers
    from replication.imageio import list_images

    files = list_images(images) if isinstance(images, str | os.PathLike) else [Path(p) for p in images]
    names = parse_metric_list(",".join(metrics))
    resources = MetricResources(
        mirror=Path(mirror) if mirror is not None else None,
        weights_dirs=tuple(Path(d) for d in weights_dirs),
        nr_crop_border=crop_border or 0,
        fr_crop_border=4 if crop_border is None else crop_border,
    )
    scorers, unavailable = build_scorers(names, resources)
    if unavailable:
        raise UserError("; ".join(f"{name}: {why}" for name, why in unavailable.items()))
    needs_ref = [n for n, s in scorers.items() if s.spec.kind == "fr"]
    if needs_ref and reference is None:
        raise UserError(f"metric(s) {', '.join(needs_ref)} need reference=FOLDER")
    ref = Path(reference) if reference is not None else None
    scores = score_folder(files, scorers, ref, progress=False)
    return {s.image: dict(s.values) for s in scores}


def synthesize_pairs(
    gt_dir: PathLike,
    out_dir: PathLike,
    count: int,
    *,
    seed: int = 0,
    variant: str = "second_order",
    gt_size: int | None = None,
    scale: int | None = None,
    params: PathLike = "params.yaml",
    profile: str | None = None,
    device: str | torch.device = "cpu",
    overwrite: bool = False,
) -> Path:
    """Write ``count`` LQ/GT pairs (``<out_dir>/{lq,gt}/``, ``synthesis.json``) degraded by ``variant``
    with the degradation settings of ``params`` (profile ``profile``, default its active one), as
    ``replication synthesize`` does; the same seed gives the same files. ``out_dir`` is replaced only
    when it is an earlier output of this function or the command (or with ``overwrite``)."""
    from replication.degrade.synthesize import SynthesisRequest, synthesize
    from replication.errors import UserError
    from replication.imageio import list_images
    from replication.names import DEGRADATION_VARIANTS
    from replication.outputs import check_output
    from replication.params import load_params

    if variant not in DEGRADATION_VARIANTS:
        raise UserError(f"variant {variant!r}: expected one of {', '.join(DEGRADATION_VARIANTS)}")
    loaded = load_params(params, profile)
    active = loaded.active
    images = list_images(gt_dir)
    if not images:
        raise UserError(f"{gt_dir}: no images found")
    inputs = [("gt_dir", Path(gt_dir)), ("params", Path(params))]
    check_output(out_dir, command="synthesize", flag="out_dir", inputs=inputs, overwrite=overwrite)
    req = SynthesisRequest(
        images=images,
        out_dir=Path(out_dir),
        count=count,
        seed=seed,
        variant=variant,  # checked against DEGRADATION_VARIANTS above
        scale=active.scale if scale is None else scale,
        gt_size=active.train_gan.gt_size if gt_size is None else gt_size,
        batch_size=1,
        device=torch.device(device),
        params_path=Path(params),
        progress=False,
    )
    bad = synthesize(loaded, req)
    for why in bad.values():  # the pairs come from the readable images, as with the command
        logging.getLogger("replication").warning(f"synthesize_pairs: skipped {why}")
    return Path(out_dir)
