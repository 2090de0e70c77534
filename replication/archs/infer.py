"""Inference: run a generator on a tensor or an image, whole or in tiles.

* Pixel-unshuffle models (RRDBNet scale 2 / 1) need input sides divisible by 2 / 4: the input is
  reflect-padded on the right/bottom and the output cropped back, as the official tool does.
* Tiling cuts the input into ``tile``×``tile`` cores on the official grid (ceil(W/tile) × ceil(H/tile)),
  runs each with ``tile_pad`` pixels of context (clipped at the image border) and pastes the
  cores. When ``tile_pad`` ≥ the network's receptive radius (``net.receptive_radius``) every core
  sees the same inputs as in the untiled run, so the result equals untiled inference up to float
  rounding; with a smaller pad (the official default is 10) seams differ. Measured for the official
  x4plus weights (receptive radius ~350 px) on a 128 px RealSRSet crop, tile 64 / pad 10: max abs
  difference 0.21, PSNR 42.0 dB against untiled inference (benchmarks/bench_inference.py).
  Networks with whole-image statistics (``net.whole_image_only``, e.g. DAN's global pooling) have
  no finite receptive radius: tiling them is refused rather than silently changing the result.
* Output is clamped to [0, 1] (the official tool clamps too) and returned as float32. A network
  output holding NaN or infinite values is an error naming the model (clamping would hide it).
* The output size is checked against the pixel budget (:func:`replication.imageio.check_pixels`)
  before anything runs, so ``--outscale 1e6`` fails at once instead of in the allocator.
"""

from __future__ import annotations

import math
import sys

import torch
import torch.nn.functional as F
from torch import nn

from replication.errors import UserError
from replication.imageio import Image, check_pixels, resize_lanczos, rgb_to_gray


def model_scale(net: nn.Module) -> int:
    scale = getattr(net, "scale", None)
    if scale is None:
        raise TypeError(f"{type(net).__name__} is not a super-resolution generator (no .scale)")
    return int(scale)


def model_label(net: nn.Module) -> str:
    """The model file a network was loaded from (``load_model`` records it), else its class name."""
    return str(getattr(net, "source_path", None) or type(net).__name__)


def _check_finite(net: nn.Module, out: torch.Tensor, dtype: torch.dtype | None) -> None:
    if not bool(torch.isfinite(out).all()):
        bad = int((~torch.isfinite(out)).sum())
        hint = " (half precision can overflow: try without --half/--bf16)" if dtype is not None else ""
        raise UserError(
            f"{model_label(net)}: the network output holds {bad} NaN or infinite value(s){hint}; "
            "its weights or this input are unusable, no output was written"
        )


def _input_multiple(net: nn.Module) -> int:
    return int(getattr(net, "input_multiple", 1))


def _pad_right_bottom(x: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    if pad_h == 0 and pad_w == 0:
        return x
    # reflect needs the pad to be smaller than the side; tiny images fall back to edge replication
    mode = "reflect" if pad_h < x.shape[-2] and pad_w < x.shape[-1] else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def _forward(net: nn.Module, x: torch.Tensor, dtype: torch.dtype | None, channels_last: bool) -> torch.Tensor:
    param = next(net.parameters())
    x = x.to(param.device)
    if channels_last:
        # NHWC activations let oneDNN pick its fast conv kernels (measured ~2x on this CPU, see
        # benchmarks/bench_inference.py); the layout propagates through the network, weights untouched.
        x = x.contiguous(memory_format=torch.channels_last)
    if dtype is None or dtype == param.dtype:
        return net(x.to(param.dtype)).float()
    with torch.autocast(device_type=x.device.type, dtype=dtype):
        return net(x).float()


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def upscale_tensor(
    net: nn.Module,
    x: torch.Tensor,
    tile: int = 0,
    tile_pad: int = 10,
    dtype: torch.dtype | None = None,
    channels_last: bool = True,
    progress: bool = False,
) -> torch.Tensor:
    """(1, C, H, W) float in [0, 1] -> (1, C, s·H, s·W) float32 in [0, 1], s = ``net.scale``.

    ``tile`` 0 runs the whole image at once. ``dtype`` (torch.float16 / torch.bfloat16) runs under
    autocast, or directly if the network's weights already have that dtype. The output is on the
    network's device. ``channels_last`` runs the activations in NHWC layout (same values up to float
    rounding, faster on CPU). ``progress``: a bar over the tiles on stderr (one big image can take
    minutes on a CPU).
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"expected one image shaped (1, C, H, W), got {tuple(x.shape)}")
    if tile < 0 or tile_pad < 0:
        raise ValueError(f"tile and tile_pad must be >= 0, got {tile}, {tile_pad}")
    scale = model_scale(net)
    multiple = _input_multiple(net)
    _, _, h, w = x.shape
    x = _pad_right_bottom(x.float(), (-h) % multiple, (-w) % multiple)
    with torch.inference_mode():
        if tile == 0 or (tile >= x.shape[-2] and tile >= x.shape[-1]):
            out = _forward(net, x, dtype, channels_last)
        elif getattr(net, "whole_image_only", False):
            raise UserError(
                f"{type(net).__name__} uses whole-image statistics (global pooling), so tiles would change the "
                f"result; run it without tiling (tile 0)"
            )
        else:
            tile, tile_pad = _round_up(tile, multiple), _round_up(tile_pad, multiple)
            out = _tiled(net, x, scale, tile, tile_pad, dtype, channels_last, progress)
        out = out[..., : h * scale, : w * scale]
        _check_finite(net, out, dtype)
        out = out.clamp_(0, 1)
    return out.contiguous()


def _tiled(
    net: nn.Module,
    x: torch.Tensor,
    scale: int,
    tile: int,
    pad: int,
    dtype: torch.dtype | None,
    channels_last: bool,
    progress: bool = False,
) -> torch.Tensor:
    from tqdm import tqdm

    h, w = x.shape[-2:]
    out = None
    rows, cols = math.ceil(h / tile), math.ceil(w / tile)
    # leave=False: the bar of one image disappears when it is done, under the bar over the images
    bar = tqdm(total=rows * cols, desc="tiles", unit="tile", leave=False, file=sys.stderr, disable=not progress)
    for ty in range(rows):
        for tx in range(cols):
            y0, x0 = ty * tile, tx * tile
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            in_y0, in_x0 = max(y0 - pad, 0), max(x0 - pad, 0)
            in_y1, in_x1 = min(y1 + pad, h), min(x1 + pad, w)
            result = _forward(net, x[:, :, in_y0:in_y1, in_x0:in_x1], dtype, channels_last)
            if out is None:
                out = result.new_zeros((1, result.shape[1], h * scale, w * scale))
            oy, ox = (y0 - in_y0) * scale, (x0 - in_x0) * scale
            out[:, :, y0 * scale : y1 * scale, x0 * scale : x1 * scale] = result[
                :, :, oy : oy + (y1 - y0) * scale, ox : ox + (x1 - x0) * scale
            ]
            bar.update()
    bar.close()
    assert out is not None  # the tile loop runs at least once
    return out


def tile_recompute_fraction(h: int, w: int, tile: int, tile_pad: int) -> float:
    """Extra input pixels a tiled run processes, relative to the image (0.0 = no overlap)."""
    total = 0
    for ty in range(math.ceil(h / tile)):
        for tx in range(math.ceil(w / tile)):
            y0, x0 = ty * tile, tx * tile
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            total += (min(y1 + tile_pad, h) - max(y0 - tile_pad, 0)) * (min(x1 + tile_pad, w) - max(x0 - tile_pad, 0))
    return total / (h * w) - 1.0


def upscale_image(
    net: nn.Module,
    image: Image,
    tile: int = 0,
    tile_pad: int = 10,
    dtype: torch.dtype | None = None,
    outscale: float | None = None,
    alpha_mode: str = "network",
    progress: bool = False,
) -> Image:
    """Super-resolve an :class:`Image`; gray / alpha / bit depth are carried over.

    Alpha (``alpha_mode='network'``, the official default) is replicated to three channels, run
    through the network as a second pass and reduced back to one channel (BT.601 luma);
    ``'bilinear'`` resizes it instead. ``outscale`` ≠ the network scale resizes the result to
    ``int(outscale·W) × int(outscale·H)`` with Lanczos-4 (in float, before quantisation).
    ``progress``: a bar over the tiles of each network pass. Returns CPU tensors.
    """
    if alpha_mode not in ("network", "bilinear"):
        raise ValueError(f"alpha_mode must be 'network' or 'bilinear', got {alpha_mode!r}")
    scale = model_scale(net)
    h, w = image.size
    check_pixels(w * scale, h * scale, "the network output")
    if outscale is not None and outscale != scale:
        check_pixels(max(int(w * outscale), 1), max(int(h * outscale), 1), f"the output at --outscale {outscale:g}")
    rgb = upscale_tensor(net, image.rgb, tile=tile, tile_pad=tile_pad, dtype=dtype, progress=progress).cpu()
    alpha = None
    if image.alpha is not None:
        if alpha_mode == "network":
            a3 = image.alpha.expand(1, 3, h, w).contiguous()
            a3 = upscale_tensor(net, a3, tile=tile, tile_pad=tile_pad, dtype=dtype, progress=progress)
            alpha = rgb_to_gray(a3.cpu()).clamp_(0, 1)
        else:
            alpha = F.interpolate(image.alpha, scale_factor=scale, mode="bilinear", align_corners=False).clamp_(0, 1)
    if outscale is not None and outscale != scale:
        oh, ow = int(h * outscale), int(w * outscale)
        if oh < 1 or ow < 1:
            raise ValueError(f"outscale {outscale} gives an empty {ow}×{oh} image")
        rgb = resize_lanczos(rgb, oh, ow)
        if alpha is not None:
            alpha = resize_lanczos(alpha, oh, ow)
    return Image(rgb=rgb, alpha=alpha, bit_depth=image.bit_depth, gray=image.gray)
