"""Training curves from the DVCLive files the trainer writes.

Layout read (docs/CONTRACTS.md): ``<runs>/<variant>/<phase>/dvclive/plots/metrics/<name>.tsv``, where
``<name>`` may contain ``/`` (``train/l_pix``). Each TSV has a ``step`` column and one value column
(DVCLive 3 also adds ``timestamp`` in some versions; it is ignored).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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


# What each logged curve is, as the y-axis label: the trainer logs the mean over each `log_every` window
# of the weighted terms it adds up (train/loop.py). Names not listed are labelled with their own name.
AXIS_LABELS = {
    "l_g_pix": "L1 term (× l1_weight; RGB in [0, 1])",
    "l_pix": "L1 term (× l1_weight; RGB in [0, 1])",
    "l_g_percep": "perceptual term (× perceptual_weight; VGG19 feature L1)",
    "l_g_gan": "generator GAN term (× gan_weight; BCE, nats)",
    "l_d_real": "discriminator BCE on real (nats)",
    "l_d_fake": "discriminator BCE on fake (nats)",
    "out_d_real": "mean discriminator logit on real",
    "out_d_fake": "mean discriminator logit on fake",
}
# Learning rates are a schedule, not a measurement: a flat panel in the study (no milestone is reached),
# so they go into a line of text (lr_note) instead of a panel.
SCHEDULE_NAMES = frozenset({"lr"})
# One line style per seed (in the order of the seeds present), cycled beyond four.
LINE_STYLES: tuple[Literal["-", "--", ":", "-."], ...] = ("-", "--", ":", "-.")


def _leaf(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _run(curve: Curve) -> tuple[str, int]:
    """(variant, seed) of a run directory name ``<variant>-s<seed>``; (name, -1) for any other name."""
    from replication.artifacts.runs import parse_model

    parsed = parse_model(curve.variant)
    return (parsed.variant, parsed.seed) if parsed is not None and parsed.phase == "gan" else (curve.variant, -1)


def plotted_names(curves: list[Curve], phase: str) -> list[str]:
    """The curve names of ``phase`` that get a panel: training terms first, then validation ones
    (``val/...``, when a trainer logs them), without the learning-rate schedule."""
    names = {c.name for c in curves if c.phase == phase and _leaf(c.name) not in SCHEDULE_NAMES}
    known = list(AXIS_LABELS)  # the generator's terms, then the discriminator's
    return sorted(
        names, key=lambda n: (n.startswith("val"), known.index(_leaf(n)) if _leaf(n) in known else len(known), n)
    )


def lr_note(curves: list[Curve], phase: str) -> str:
    """One line on the learning rate of ``phase`` (its first and last logged value over all runs)."""
    rates = [c for c in curves if c.phase == phase and _leaf(c.name) in SCHEDULE_NAMES and c.values]
    if not rates:
        return ""
    first = sorted({c.values[0] for c in rates})
    last = sorted({c.values[-1] for c in rates})
    if first == last and len(first) == 1:
        return f"learning rate {first[0]:g} throughout (no milestone reached)"
    return f"learning rate from {', '.join(f'{v:g}' for v in first)} to {', '.join(f'{v:g}' for v in last)}"


def plot_phase(curves: list[Curve], phase: str, title: str, variant_order: tuple[str, ...] = ()) -> bytes | None:
    """One PNG with a panel per curve of ``phase`` (not the learning rate), a line per run: colour by
    variant, line style by seed, one legend outside the panels. None if there is nothing to plot.
    ``variant_order`` (params order) fixes each variant's colour, so it is the same in every phase's figure."""
    names = plotted_names(curves, phase)
    if not names:
        return None
    mine = [c for c in curves if c.phase == phase and c.name in names]
    present = {_run(c)[0] for c in mine}
    everyone = [*variant_order, *sorted({_run(c)[0] for c in curves} - set(variant_order))]
    variants = [v for v in everyone if v in present]
    seeds = sorted({_run(c)[1] for c in mine})
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    palette = colormaps["tab10" if len(everyone) <= 10 else "tab20"]
    colour = {v: palette(everyone.index(v) % palette.N) for v in variants}
    style = {s: LINE_STYLES[i % len(LINE_STYLES)] for i, s in enumerate(seeds)}
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig = new_figure(3.6 * cols + 2.2, 2.7 * rows + 0.4)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        for c in (c for c in mine if c.name == name):
            variant, seed = _run(c)
            ax.plot(c.steps, c.values, color=colour[variant], linestyle=style[seed], linewidth=1.1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("iteration", fontsize=8)
        ax.set_ylabel(AXIS_LABELS.get(_leaf(name), _leaf(name)), fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    handles = [Line2D([], [], color=colour[v], linewidth=2, label=v) for v in variants]
    if len(seeds) > 1 or seeds != [-1]:
        handles += [
            Line2D([], [], color="0.3", linestyle=style[s], label=f"seed {s}" if s >= 0 else "no seed") for s in seeds
        ]
    fig.legend(handles=handles, loc="outside right upper", fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    return to_png(fig)
