"""Qualitative grids: the same zoomed crop of one test image from bicubic, every baseline and every variant.

The crop is chosen on the LR input, deterministically, as the window with the most gradient energy
(edges and texture are where methods differ), then scaled to each output's size. Every output must be
an integer multiple of the LR size (the ×scale super-resolution of that input); a GT image of a
synthetic set is one more "output" (its size is ×scale of the LQ), so it is cropped the same way.

Each row shows the whole LR input with the window outlined, then the LR window itself (nearest
neighbour, so one LR pixel is a block): it is the reference every panel must agree with. A strong model
can turn a smeared LR window into sharp detail that looks like another place of the image (the
``realesrgan_x4plus`` panel of the demo input ``00003.png`` turns a JPEG-smeared blob into twigs), and the
LR panel is what shows that it is the same window.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from replication.errors import UserError
from replication.imageio import IMAGE_SUFFIXES, read_image, rgb_to_gray, to_uint
from replication.report.figures import new_figure, to_png


def pick_crop(lr: torch.Tensor, window: int) -> tuple[int, int, int]:
    """(top, left, side) of the ``window``-sized square of ``lr`` (1,3,h,w) with the largest gradient energy.

    The side is clipped to the image; ties go to the first position in row-major order.
    """
    _, _, h, w = lr.shape
    side = max(1, min(window, h, w))
    gray = rgb_to_gray(lr)
    energy = torch.zeros_like(gray)
    energy[..., :, 1:] += (gray[..., :, 1:] - gray[..., :, :-1]).abs()
    energy[..., 1:, :] += (gray[..., 1:, :] - gray[..., :-1, :]).abs()
    box = F.avg_pool2d(energy, side, stride=1)[0, 0]  # (h-side+1, w-side+1): mean energy of each window
    idx = int(torch.argmax(box.flatten()))
    top, left = divmod(idx, box.shape[1])
    return top, left, side


def find_output(folder: str | os.PathLike, stem: str) -> Path | None:
    """The image in ``folder`` whose name (without suffix) is ``stem``, if any."""
    folder = Path(folder)
    for suffix in (".png", *IMAGE_SUFFIXES):
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def crops_for(
    lr_path: Path, outputs: dict[str, Path], crop: int
) -> tuple[np.ndarray, tuple[int, int, int], dict[str, np.ndarray]]:
    """The LR image (HxWx3 uint8), the LR window and each output's crop (uint8), in ``outputs`` order."""
    lr = read_image(lr_path).rgb
    _, _, h, w = lr.shape
    scales = {}
    images = {}
    for label, path in outputs.items():
        out = read_image(path).rgb
        oh, ow = out.shape[-2:]
        if oh % h or ow % w or oh // h != ow // w:
            raise UserError(f"{path}: size {ow}x{oh} is not an integer multiple of its input {lr_path} ({w}x{h})")
        scales[label] = oh // h
        images[label] = out
    window = max(1, crop // max(scales.values(), default=1))
    top, left, side = pick_crop(lr, window)
    crops = {
        label: to_uint(img[..., top * s : (top + side) * s, left * s : (left + side) * s])
        for (label, img), s in zip(images.items(), scales.values(), strict=True)
    }
    return to_uint(lr), (top, left, side), crops


def crop_psnr(crop: np.ndarray, reference: np.ndarray) -> float:
    """PSNR (dB) of an 8-bit RGB crop against the reference crop (all channels, peak 255); inf when equal.

    A label for the eye, not a metric of the report: the tables' PSNR is on the Y channel of the whole
    image with a border cropped."""
    if crop.shape != reference.shape:
        raise ValueError(f"crop {crop.shape} and reference {reference.shape} differ in size")
    mse = float(np.mean((crop.astype(np.float64) - reference.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(255.0**2 / mse))


def _nearest(lr: np.ndarray, top: int, left: int, side: int, size: int) -> np.ndarray:
    """The LR window enlarged to about ``size`` px by repeating pixels (one LR pixel = one block)."""
    window = lr[top : top + side, left : left + side]
    k = max(1, size // side)
    return np.repeat(np.repeat(window, k, axis=0), k, axis=1)


GRID_COLUMNS = 6  # panels per line: more models wrap onto further lines instead of one long strip


def grid_layout(n_panels: int, max_cols: int = GRID_COLUMNS) -> tuple[int, int]:
    """(lines, columns) one test image's panels take when wrapped at ``max_cols`` per line."""
    cols = max(1, min(max_cols, n_panels))
    return -(-n_panels // cols), cols


@dataclass(frozen=True)
class Grid:
    """One dataset's comparison: the grid shown, and the one behind a fold (same crops)."""

    dataset: str
    png: bytes  # bicubic, the baselines, each variant at its representative seed
    more: bytes | None = None  # the other seeds and the Real-ESRNet phase


REFERENCE = "GT"  # the label of a synthetic set's ground truth among a row's outputs


def render_grid(
    rows: list[tuple[str, Path, dict[str, Path]]], crop: int, title: str, max_cols: int = GRID_COLUMNS
) -> bytes:
    """A PNG: per test image (``(name, lr_path, {label: output_path})``), the LR input with the crop
    outlined, the LR window itself, then the crop from every output, labelled; wrapped at ``max_cols``
    panels per line. When a row has a ``GT`` output (a synthetic set), it comes first and every other
    panel is labelled with the PSNR of its crop against the GT crop."""
    if not rows:
        raise ValueError("render_grid needs at least one row")
    labels = list(rows[0][2])
    if REFERENCE in labels:
        labels = [REFERENCE, *(label for label in labels if label != REFERENCE)]
    lines, ncols = grid_layout(2 + len(labels), max_cols)
    fig = new_figure(1.9 * ncols, 2.2 * lines * len(rows) + 0.4)
    axes = fig.subplots(lines * len(rows), ncols, squeeze=False)
    from matplotlib.patches import Rectangle  # local: only needed here

    for r, (name, lr_path, outputs) in enumerate(rows):
        lr, (top, left, side), crops = crops_for(lr_path, outputs, crop)
        panels = [axes[r * lines + i // ncols, i % ncols] for i in range(2 + len(labels))]
        panels[0].imshow(lr)
        panels[0].add_patch(Rectangle((left - 0.5, top - 0.5), side, side, fill=False, edgecolor="red", linewidth=1.2))
        panels[0].set_title(name, fontsize=7)
        panels[1].imshow(_nearest(lr, top, left, side, crop), interpolation="nearest")
        panels[1].set_title(f"LR window {side}×{side} px", fontsize=7)
        reference = crops.get(REFERENCE)
        for ax, label in zip(panels[2:], labels, strict=True):
            ax.imshow(crops[label], interpolation="nearest")
            text = label
            if reference is not None and label != REFERENCE:
                text += f"\n{crop_psnr(crops[label], reference):.2f} dB"
            ax.set_title(text, fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        if not ax.images:  # the unused tail of a wrapped line
            ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    return to_png(fig)


def grid_rows(
    lr_files: list[Path],
    output_dirs: dict[str, Path],
    max_images: int,
    names: dict[str, str] | None = None,
) -> list[tuple[str, Path, dict[str, Path]]]:
    """Rows for :func:`render_grid`: the first ``max_images`` LR files (by name) that every model output.
    ``names`` maps a file name to the title its row gets (default: the file name)."""
    names = names or {}
    rows: list[tuple[str, Path, dict[str, Path]]] = []
    for lr_path in sorted(lr_files, key=lambda p: p.name):
        found = {label: find_output(d, lr_path.stem) for label, d in output_dirs.items()}
        present = {label: p for label, p in found.items() if p is not None}
        if len(present) == len(found):
            rows.append((names.get(lr_path.name, lr_path.name), lr_path, present))
        if len(rows) == max_images:
            break
    return rows
