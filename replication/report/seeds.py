"""Retrained runs in the tidy metrics: which variant, phase and seed each model name stands for, and
every number as a mean over seeds with the seed spread.

Model names of retrained runs (dvc.yaml): ``<variant>-s<seed>`` for the Real-ESRGAN (GAN) phase and
``<variant>-s<seed>-net`` for Real-ESRNet. A name without ``-s<seed>`` (one unnamed seed, the layout
before seeds were fanned out) is read as seed ``-1``. Names that start with no known variant (official
baselines, bicubic) are not runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from replication.artifacts.runs import parse_model
from replication.evaluate.registry import METRICS
from replication.report.document import Table

PHASE_LABELS = {"net": "Real-ESRNet", "gan": "Real-ESRGAN"}
RUN_COLUMNS = ("variant", "phase", "seed")


def parse_run(model: str, variants: Iterable[str]) -> tuple[str, str, int] | None:
    """``(variant, phase, seed)`` of a retrained model's name, or None for any other model."""
    variants = set(variants)
    parsed = parse_model(model)  # the pipeline's naming, defined once in replication.artifacts.runs
    if parsed is not None and parsed.variant in variants:
        return parsed.variant, parsed.phase, parsed.seed
    bare, net = (model.removesuffix("-net"), True) if model.endswith("-net") else (model, False)
    return (bare, "net" if net else "gan", -1) if bare in variants else None


def runs(tidy: pd.DataFrame, variants: Iterable[str]) -> pd.DataFrame:
    """The tidy rows of retrained runs, with ``variant``, ``phase`` and ``seed`` columns added."""
    variants = tuple(variants)
    parsed = {m: parse_run(m, variants) for m in tidy["model"].unique()}
    keep = tidy[tidy["model"].map(lambda m: parsed[m] is not None)].copy()
    for i, col in enumerate(RUN_COLUMNS):
        keep[col] = keep["model"].map(lambda m, i=i: parsed[m][i])  # type: ignore[index]  # None rows dropped above
    return keep


def metric_header(metric: str, lower_better: bool) -> str:
    """Column header naming the unit and the direction, e.g. ``psnr (dB) ↑``."""
    spec = METRICS.get(metric)
    unit = spec.unit if spec is not None else "score"
    return f"{metric} ({unit}) {'↓' if lower_better else '↑'}"


def seed_summary(run_rows: pd.DataFrame) -> pd.DataFrame:
    """Per (variant, phase, dataset, metric): mean over seeds of the per-seed image means, the sample
    standard deviation of those per-seed means (NaN with one seed), the number of seeds and images."""
    cols = ["variant", "phase", "dataset", "metric", "lower_better", "seeds", "images", "mean", "seed_sd"]
    if run_rows.empty:
        return pd.DataFrame(columns=cols)
    per_seed = (
        run_rows.groupby(["variant", "phase", "dataset", "metric", "seed"], sort=True)
        .agg(lower_better=("lower_better", "first"), value=("value", "mean"), images=("value", "count"))
        .reset_index()
    )
    out = (
        per_seed.groupby(["variant", "phase", "dataset", "metric"], sort=True)
        .agg(
            lower_better=("lower_better", "first"),
            seeds=("seed", "nunique"),
            images=("images", "max"),
            mean=("value", "mean"),
            seed_sd=("value", lambda v: v.std(ddof=1) if len(v) > 1 else math.nan),
        )
        .reset_index()
    )
    return out[cols]


def _cell(mean: float, sd: float, seeds: int) -> str:
    if math.isnan(mean):
        return "nan"
    spread = f" ± {sd:.3f}" if not math.isnan(sd) else ""
    return f"{mean:.3f}{spread} ({seeds} seed{'s' if seeds != 1 else ''})"


def seed_tables(summary: pd.DataFrame, variant_order: Iterable[str]) -> list[tuple[str, Table]]:
    """Per dataset: every retrained run (variant × phase) on every metric as ``mean ± seed sd (n seeds)``."""
    order = {v: i for i, v in enumerate(variant_order)}
    out = []
    for dataset, part in summary.groupby("dataset", sort=True):
        metrics = sorted(part["metric"].unique())
        lower = {m: bool(part[part["metric"] == m]["lower_better"].iloc[0]) for m in metrics}
        columns = ("Variant", "Level", *(metric_header(m, lower[m]) for m in metrics))
        keys = sorted(
            {(r.variant, r.phase) for r in part.itertuples()},
            key=lambda k: (order.get(k[0], len(order)), k[0], k[1] != "net"),
        )
        rows = []
        for variant, phase in keys:
            mine = part[(part["variant"] == variant) & (part["phase"] == phase)].set_index("metric")
            cells = [
                _cell(float(mine.loc[m, "mean"]), float(mine.loc[m, "seed_sd"]), int(mine.loc[m, "seeds"]))
                if m in mine.index
                else "—"
                for m in metrics
            ]
            rows.append((f"`{variant}`", PHASE_LABELS[phase], *cells))
        images = int(part["images"].max())
        caption = (
            f"{dataset}: mean over seeds of the mean over {images} image(s), ± the standard deviation over seeds "
            "(the seed spread; absent with one seed)."
        )
        out.append((dataset, Table(columns, tuple(rows), caption)))
    return out
