"""Qualitative grids: the same zoomed crop of one test image from bicubic, every baseline and every variant.

The crop is chosen on the LR input, deterministically, as the window with the most gradient energy
(edges and texture are where methods differ), then scaled to each output's size. Every output must be
an integer multiple of the LR size (the ×scale super-resolution of that input).
"""

from __future__ import annotations

import os
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


GRID_COLUMNS = 6  # panels per line: more models wrap onto further lines instead of one long strip


def grid_layout(n_panels: int, max_cols: int = GRID_COLUMNS) -> tuple[int, int]:
    """(lines, columns) one test image's panels take when wrapped at ``max_cols`` per line."""
    cols = max(1, min(max_cols, n_panels))
    return -(-n_panels // cols), cols


def render_grid(
    rows: list[tuple[str, Path, dict[str, Path]]], crop: int, title: str, max_cols: int = GRID_COLUMNS
) -> bytes:
    """A PNG: per test image (``(name, lr_path, {label: output_path})``), the LR input with the crop
    outlined, then the crop from every output, labelled; wrapped at ``max_cols`` panels per line."""
    if not rows:
        raise ValueError("render_grid needs at least one row")
    labels = list(rows[0][2])
    lines, ncols = grid_layout(1 + len(labels), max_cols)
    fig = new_figure(1.9 * ncols, 2.1 * lines * len(rows) + 0.4)
    axes = fig.subplots(lines * len(rows), ncols, squeeze=False)
    from matplotlib.patches import Rectangle  # local: only needed here

    for r, (name, lr_path, outputs) in enumerate(rows):
        lr, (top, left, side), crops = crops_for(lr_path, outputs, crop)
        panels = [axes[r * lines + i // ncols, i % ncols] for i in range(1 + len(labels))]
        panels[0].imshow(lr)
        panels[0].add_patch(Rectangle((left - 0.5, top - 0.5), side, side, fill=False, edgecolor="red", linewidth=1.2))
        panels[0].set_title(f"{name} (LR)", fontsize=7)
        for ax, label in zip(panels[1:], labels, strict=True):
            ax.imshow(crops[label], interpolation="nearest")
            ax.set_title(label, fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        if not ax.images:  # the unused tail of a wrapped line
            ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    return to_png(fig)


def grid_rows(
    lr_files: list[Path], output_dirs: dict[str, Path], max_images: int
) -> list[tuple[str, Path, dict[str, Path]]]:
    """Rows for :func:`render_grid`: the first ``max_images`` LR files (by name) that every model output."""
    rows: list[tuple[str, Path, dict[str, Path]]] = []
    for lr_path in sorted(lr_files, key=lambda p: p.name):
        found = {label: find_output(d, lr_path.stem) for label, d in output_dirs.items()}
        present = {label: p for label, p in found.items() if p is not None}
        if len(present) == len(found):
            rows.append((lr_path.name, lr_path, present))
        if len(rows) == max_images:
            break
    return rows
