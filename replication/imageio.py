"""Image I/O: the only place where pixels change representation.

Inside the package every image is a float32 RGB tensor in [0, 1], shape (N, 3, H, W). Files may be
8- or 16-bit, gray, RGB or RGBA; :func:`read_image` records what the file was so that
:func:`write_image` can give the same kind back (a 16-bit RGBA input gives a 16-bit RGBA output).

Also here, so that no other module converts pixels: rounding to 8-bit code values (:func:`quantize`,
:func:`quantize_8bit`, the one definition of that rounding), decoding in-memory files
(:func:`decode_image`), the 8-bit PIL path the training-data preparation uses (:func:`load_rgb8`,
:func:`encode_png_rgb8`), and OpenCV's Lanczos resize of a tensor (:func:`resize_lanczos`).

Every file is looked at from its header before it is decoded (:func:`inspect_header`):

* the **pixel budget**: an image larger than ``--max-pixels`` (default 50 megapixels; outputs are
  checked with :func:`check_pixels` before they are computed) is refused, naming its size and the flag,
  instead of the process trying to allocate tens of gigabytes;
* **EXIF orientation** is applied, so pixels are in the orientation image viewers show (the file's
  stored orientation is not carried to outputs: they are written upright);
* a **multi-frame** file (animated GIF/PNG/WebP, multi-page TIFF) is refused rather than silently
  reduced to its first frame.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image as PILImage
from PIL import ImageOps

from replication.errors import UserError
from replication.fsutil import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

# PIL's own decompression-bomb check (a warning, then an error at twice its limit) is replaced by the
# pixel budget below, which names the file and the flag; PIL is only used to read headers.
PILImage.MAX_IMAGE_PIXELS = None
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEFAULT_MAX_PIXELS = 50_000_000  # ~7000 x 7000: a float32 RGB copy is 0.6 GB
_budget = {"max_pixels": DEFAULT_MAX_PIXELS}
MAX_PIXELS_FLAG = "--max-pixels"


def set_max_pixels(limit: int) -> None:
    """The pixel budget of this process (``--max-pixels``; 0 = no limit)."""
    _budget["max_pixels"] = int(limit)


def max_pixels() -> int:
    """The pixel budget in force (worker processes are started with it: see data/prepare.py)."""
    return _budget["max_pixels"]


def check_pixels(width: int, height: int, what: str) -> None:
    """Refuse an image (input or output) over the pixel budget, naming ``what``, its size and the flag."""
    limit = _budget["max_pixels"]
    if limit and width * height > limit:
        raise ImageTooLargeError(
            f"{what}: {width}x{height} pixels ({width * height / 1e6:.4g} megapixels) is over the pixel budget of "
            f"{limit / 1e6:g} megapixels (refused before decoding or computing it); pass {MAX_PIXELS_FLAG} N "
            "to allow larger images if the machine has the memory"
        )


@dataclass(frozen=True)
class Image:
    """A decoded image in the package's tensor contract plus what is needed to write it back.

    ``rgb``: float32 (1, 3, H, W) in [0, 1] (a gray file is replicated to three channels).
    ``alpha``: float32 (1, 1, H, W) in [0, 1], or None.
    ``bit_depth``: 8 or 16. ``gray``: the file had a single colour channel.
    """

    rgb: torch.Tensor
    alpha: torch.Tensor | None
    bit_depth: int
    gray: bool

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.rgb.shape[-2]), int(self.rgb.shape[-1])


class ImageReadError(UserError, ValueError):
    """A file is not a readable image (empty, truncated, another format). The message names it."""


class ImageWriteError(UserError, ValueError):
    """An image cannot be written to that path (unknown extension). The message names it."""


class ImageNotFoundError(UserError, FileNotFoundError):
    """An image file or folder does not exist. The message names it."""


class ImageTooLargeError(UserError, ValueError):
    """An image is over the pixel budget (``--max-pixels``). The message names it and its size."""


# EXIF orientation tag (0x0112) -> how to bring an (H, W, ...) array upright, as viewers show it.
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


def _png_chunk_types(raw: bytes) -> set[bytes]:
    """The chunk types of a PNG, by walking the chunk headers (no decompression)."""
    types, pos = set(), 8
    while pos + 8 <= len(raw):
        length, kind = struct.unpack(">I4s", raw[pos : pos + 8])
        types.add(kind)
        if kind == b"IEND":
            break
        pos += 12 + length
    return types


def inspect_header(data: bytes | np.ndarray, source: str) -> int:
    """Check an encoded image from its header (no decoding): budget and single frame. Returns its
    EXIF orientation (1 = upright). A header PIL cannot parse is left to the decoder to report."""
    raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    if raw[:8] == _PNG_SIGNATURE and raw[12:16] == b"IHDR" and len(raw) >= 24:
        # Fast path for PNG (training shards decode many small ones): the size is in IHDR; only a file
        # that may be animated (acTL) or carry EXIF (eXIf) is handed to PIL below to make sure.
        width, height = struct.unpack(">II", raw[16:24])
        check_pixels(width, height, source)
        if not _png_chunk_types(raw) & {b"acTL", b"eXIf"}:
            return 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's own decompression-bomb warning: the budget below replaces it
        try:
            im = PILImage.open(io.BytesIO(raw))
        except (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError):
            return 1
        with im:
            check_pixels(im.width, im.height, source)
            frames = int(getattr(im, "n_frames", 1) or 1)
            if frames > 1:
                raise ImageReadError(
                    f"{source}: holds {frames} frames (an animation or a multi-page file); only single-frame "
                    "images are supported: extract the frame you want first"
                )
            # PIL's PNG reader decodes the whole image to look for an eXIf chunk: only ask when there is one
            if im.format == "PNG" and b"eXIf" not in raw:
                return 1
            try:
                orientation = int(im.getexif().get(0x0112, 1))
            except Exception:  # a damaged EXIF block: treat as upright, as viewers do
                orientation = 1
    return orientation if orientation in _ORIENT else 1


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageNotFoundError(f"{folder}: not a directory")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_image(path: str | os.PathLike) -> Image:
    """Decode ``path`` into the tensor contract (8/16-bit, gray, RGB, RGBA)."""
    path = Path(path)
    if not path.is_file():
        raise ImageNotFoundError(f"{path}: no such image file")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if data.size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes), not an image")
    return decode_image(data, source=str(path))


def decode_image(data: bytes | np.ndarray, source: str = "<bytes>") -> Image:
    """Decode an encoded image file held in memory (e.g. a PNG member of a shard)."""
    buf = data if isinstance(data, np.ndarray) else np.frombuffer(data, np.uint8)
    orientation = inspect_header(buf, source)
    try:
        arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)  # UNCHANGED ignores EXIF orientation: applied below
    except cv2.error:  # some decoders raise on a malformed header instead of returning None
        arr = None
    if arr is None or arr.size == 0:
        raise ImageReadError(f"{source}: cannot decode as an image (truncated, damaged or not an image file)")
    check_pixels(arr.shape[1], arr.shape[0], source)  # a header PIL could not read
    if orientation != 1:
        arr = np.ascontiguousarray(_ORIENT[orientation](arr))
    return image_from_array(arr, source=source)


def image_from_array(arr: np.ndarray, source: str = "<array>") -> Image:
    """Build an :class:`Image` from an OpenCV-ordered array (HxW, HxWx3 BGR or HxWx4 BGRA)."""
    if arr.dtype == np.uint8:
        bit_depth, scale = 8, 255.0
    elif arr.dtype == np.uint16:
        bit_depth, scale = 16, 65535.0
    else:
        raise ImageReadError(f"{source}: unsupported pixel type {arr.dtype} (expected 8- or 16-bit)")
    alpha = None
    gray = False
    if arr.ndim == 2:
        gray = True
        rgb = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        gray = True
        rgb = np.repeat(arr, 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 3:
        rgb = arr[:, :, ::-1]
    elif arr.ndim == 3 and arr.shape[2] == 4:
        rgb = arr[:, :, 2::-1]
        alpha = arr[:, :, 3]
    elif arr.ndim == 3 and arr.shape[2] == 2:  # gray + alpha
        gray = True
        rgb = np.repeat(arr[:, :, :1], 3, axis=2)
        alpha = arr[:, :, 1]
    else:
        raise ImageReadError(f"{source}: unsupported image shape {arr.shape}")
    rgb_t = torch.from_numpy(np.ascontiguousarray(rgb).astype(np.float32) / scale).permute(2, 0, 1)[None]
    alpha_t = None
    if alpha is not None:
        alpha_t = torch.from_numpy(alpha.astype(np.float32) / scale)[None, None]
    return Image(rgb=rgb_t.contiguous(), alpha=alpha_t, bit_depth=bit_depth, gray=gray)


def quantize(x: torch.Tensor, bit_depth: int = 8) -> torch.Tensor:
    """Float in [0, 1] -> its integer code values as floats: clamp(round(x * max), 0, max), max = 2^bits - 1.

    The one definition of 8-/16-bit rounding: files are written with it, and the degradations round
    their intermediate images with it (:func:`quantize_8bit`), as the reference does.
    """
    maxval = 65535.0 if bit_depth == 16 else 255.0
    return (x * maxval).round().clamp(0, maxval)


def quantize_8bit(img: torch.Tensor) -> torch.Tensor:
    """clamp(round(255 x), 0, 255) / 255: the image as an 8-bit file would hold it, values k/255."""
    return quantize(img, 8) / 255.0


def to_uint(x: torch.Tensor, bit_depth: int = 8) -> np.ndarray:
    """(1, C, H, W) or (C, H, W) float in [0, 1] -> HxWxC unsigned array, rounded and clipped."""
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"expected a single image, got batch of {x.shape[0]}")
        x = x[0]
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    arr = quantize(x.detach().float(), bit_depth).permute(1, 2, 0).cpu().numpy()
    return arr.astype(dtype)


def from_uint8_rgb(arr: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 RGB (e.g. drawn with OpenCV) -> (3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float() / 255.0


def resize_lanczos(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(1, C, H, W) float -> (1, C, height, width) with OpenCV's Lanczos-4 (the official --outscale)."""
    arr = x[0].detach().float().cpu().permute(1, 2, 0).numpy()
    resized = cv2.resize(arr, (width, height), interpolation=cv2.INTER_LANCZOS4)
    if resized.ndim == 2:
        resized = resized[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(resized)).permute(2, 0, 1)[None].clamp_(0, 1)


def rgb_to_gray(rgb: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma as OpenCV's BGR2GRAY computes it: (N,3,H,W) -> (N,1,H,W)."""
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb * weights).sum(dim=1, keepdim=True)


def write_image(
    path: str | os.PathLike,
    rgb: torch.Tensor,
    alpha: torch.Tensor | None = None,
    bit_depth: int = 8,
    gray: bool = False,
    jpeg_quality: int = 95,
) -> Path:
    """Encode a (1, 3, H, W) float image (plus optional alpha) to ``path`` atomically.

    ``gray`` writes one channel (BT.601 luma). 16-bit needs PNG or TIFF; alpha needs PNG/TIFF/WebP.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ImageWriteError(
            f"{path}: cannot write images as {suffix or '(no extension)'!r}; use one of {IMAGE_SUFFIXES}"
        )
    if bit_depth not in (8, 16):
        raise ValueError(f"{path}: bit_depth must be 8 or 16, got {bit_depth}")
    if bit_depth == 16 and suffix not in (".png", ".tif", ".tiff"):
        raise ValueError(f"{path}: 16-bit output needs .png or .tif, not {suffix}")
    if alpha is not None and suffix in (".jpg", ".jpeg", ".bmp"):
        raise ValueError(f"{path}: {suffix} cannot hold an alpha channel; use .png")
    color = rgb_to_gray(rgb) if gray else rgb
    arr = to_uint(color, bit_depth)
    if not gray:
        arr = arr[:, :, ::-1]
    if alpha is not None:
        a = to_uint(alpha, bit_depth)
        arr = np.concatenate([arr, a], axis=2)
    params: list[int] = []
    if suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    elif suffix == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(suffix, np.ascontiguousarray(arr), params)
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode this image as {suffix}")
    with atomic_path(path) as tmp:
        buf.tofile(tmp)
    return path


def save_rgb(path: str | os.PathLike, rgb: torch.Tensor) -> Path:
    """Shorthand: write an 8-bit RGB file."""
    return write_image(path, rgb)


# The training-data preparation decodes with PIL (its LANCZOS resize is the official multi-scale step)
# and encodes sub-images with OpenCV, exactly as the prepared shards have always been made.
def load_rgb8(path: Path) -> PILImage.Image:
    """Open ``path`` as an 8-bit RGB PIL image (alpha dropped, 16-bit reduced to 8)."""
    try:
        inspect_header(Path(path).read_bytes(), str(path))
        img: PILImage.Image = PILImage.open(path)
        img.load()
        img = ImageOps.exif_transpose(img)  # upright, as read_image gives it
    except UserError:
        raise
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read image: {exc}") from None
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img).astype(np.uint32)
        if img.mode == "I" and arr.max(initial=0) <= 255:
            return PILImage.fromarray(arr.astype(np.uint8), "L").convert("RGB")
        return PILImage.fromarray((arr >> 8).clip(0, 255).astype(np.uint8), "L").convert("RGB")
    if img.mode == "F":
        raise UserError(f"{path}: floating-point images are not supported")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return img if img.mode == "RGB" else img.convert("RGB")


def encode_png_rgb8(rgb: np.ndarray, compression: int) -> bytes:
    """HxWx3 uint8 RGB -> PNG file bytes (OpenCV's encoder at zlib level ``compression``)."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise RuntimeError("OpenCV could not encode a PNG")
    return buf.tobytes()
