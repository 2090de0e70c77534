"""Training curves from the DVCLive files the trainer writes.

Layout read (docs/CONTRACTS.md): ``<runs>/<variant>/<phase>/dvclive/plots/metrics/<name>.tsv``, where
``<name>`` may contain ``/`` (``train/l_pix``). Each TSV has a ``step`` column and one value column
(DVCLive 3 also adds ``timestamp`` in some versions; it is ignored).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from replication.artifacts.layout import PHASES, dvclive_metrics_dir
from replication.errors import UserError
from replication.report.figures import new_figure, to_png


@dataclass(frozen=True)
class Curve:
    variant: str
    phase: str
    name: str  # metric name as logged, e.g. "train/l_pix"
    steps: tuple[int, ...]
    values: tuple[float, ...]


def read_tsv(path: str | os.PathLike) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """(steps, values) of one DVCLive metric TSV."""
    path = Path(path)
    try:
        df = pd.read_csv(path, sep="\t")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UserError(f"{path}: not a DVCLive metric file ({exc})") from None
    value_cols = [c for c in df.columns if c not in ("step", "timestamp")]
    if "step" not in df.columns or len(value_cols) != 1:
        raise UserError(f"{path}: expected a 'step' column and one value column, got {list(df.columns)}")
    df = df.sort_values("step", kind="stable")
    return tuple(int(s) for s in df["step"]), tuple(float(v) for v in df[value_cols[0]])


def find_curves(runs_dir: str | os.PathLike) -> list[Curve]:
    """Every metric curve under ``runs_dir`` (sorted by variant, phase, name); [] if there is none."""
    runs_dir = Path(runs_dir)
    curves: list[Curve] = []
    if not runs_dir.is_dir():
        return curves
    for variant_dir in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        for phase in PHASES:
            metrics_dir = dvclive_metrics_dir(runs_dir, variant_dir.name, phase)
            if not metrics_dir.is_dir():
                continue
            for tsv in sorted(metrics_dir.rglob("*.tsv")):
                name = tsv.relative_to(metrics_dir).with_suffix("").as_posix()
                steps, values = read_tsv(tsv)
                curves.append(Curve(variant_dir.name, phase, name, steps, values))
    return curves


def curves_tsv(curves: list[Curve], max_points: int = 1000) -> str:
    """Every curve in one long table (``curve, variant, step, value``) for ``dvc plots``.

    One row per logged point, sorted, values with 9 significant digits (enough to round-trip the
    float32 losses), so equal runs give equal bytes. A curve longer than ``max_points`` keeps every
    k-th point and its last one: the file is committed to git for ``dvc plots diff``, and a paper-scale
    run logs thousands of points per curve.
    """
    lines = ["curve\tvariant\tstep\tvalue"]
    for c in sorted(curves, key=lambda c: (c.phase, c.name, c.variant)):
        k = max(1, -(-len(c.steps) // max_points))
        keep = [i for i in range(len(c.steps)) if i % k == 0 or i == len(c.steps) - 1]
        lines += [f"{c.phase}/{c.name}\t{c.variant}\t{c.steps[i]}\t{c.values[i]:.9g}" for i in keep]
    return "\n".join(lines) + "\n"


def plot_phase(curves: list[Curve], phase: str, title: str) -> bytes | None:
    """One PNG with a panel per metric name of ``phase``, a line per variant; None if no curve."""
    mine = [c for c in curves if c.phase == phase]
    names = sorted({c.name for c in mine})
    if not names:
        return None
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    fig = new_figure(4.2 * cols, 3.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        for c in (c for c in mine if c.name == name):
            ax.plot(c.steps, c.values, label=c.variant, linewidth=1.2)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("iteration", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return to_png(fig)
