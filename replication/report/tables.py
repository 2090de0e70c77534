"""The report's tables, built from the summary of the tidy metrics
(:func:`replication.artifacts.metrics_table.summarise`, columns ``SUMMARY_COLUMNS`` there).
"""

from __future__ import annotations

import math

import pandas as pd

from replication.artifacts.runs import parse_model
from replication.report import paper_table
from replication.report.document import Table
from replication.report.seeds import metric_header


def _fmt(v: float, digits: int = 4) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _ci(row: pd.Series, digits: int = 3) -> str:
    if row["n"] < 2 or math.isnan(row["ci_low"]):
        return f"{_fmt(row['mean'], digits)} (n={int(row['n'])})"
    return f"{_fmt(row['mean'], digits)} [{_fmt(row['ci_low'], digits)}, {_fmt(row['ci_high'], digits)}]"


def table1_datasets(summary: pd.DataFrame, test_sets: tuple[str, ...]) -> list[str]:
    """Table 1's test sets first (paper order), then this profile's other real test sets."""
    paper = [t.dataset for t in paper_table.TEST_SETS]
    return paper + [d for d in test_sets if d not in paper]


def table1(
    summary: pd.DataFrame,
    test_sets: tuple[str, ...],
    unavailable: dict[str, str],
) -> Table:
    """The paper's NIQE next to ours: one row per (paper method, our model), one column per test set.

    A cell reads ``paper / ours``; ``—`` marks a value that does not exist (the paper did not use the
    set, the model is not available, or the set is not in this profile's ``evaluate.test_sets``).
    """
    datasets = table1_datasets(summary, test_sets)
    niqe = summary[summary["metric"] == paper_table.METRIC].set_index(["model", "dataset"])
    labels = {t.dataset: t.label for t in paper_table.TEST_SETS}
    columns = ("Method (paper)", "Our model", "Source", *(f"{labels.get(d, d)}: NIQE ↓" for d in datasets), "Note")
    rows = []
    retrained: dict[str, list[str]] = {}  # variant -> its Real-ESRGAN models (one per seed), as named in the results
    for name in niqe.index.get_level_values(0).unique():
        parsed = parse_model(name)
        if parsed is not None and parsed.phase == "gan":
            retrained.setdefault(parsed.variant, []).append(name)
    for method in paper_table.METHODS:
        for model in (m for name in method.models for m in retrained.get(name, [name])):
            sources = (
                sorted(set(niqe.loc[model].reset_index()["source"])) if model in niqe.index.get_level_values(0) else []
            )
            cells = []
            for d in datasets:
                paper = paper_table.paper_value(d, method.label)
                ours = niqe.loc[(model, d)] if (model, d) in niqe.index else None
                if isinstance(ours, pd.DataFrame):  # the same model measured with two sources: show the first
                    ours = ours.iloc[0]
                ours_text = _fmt(ours["mean"]) if ours is not None else "—"
                cells.append(f"{_fmt(paper) if paper is not None else '—'} / {ours_text}")
            if model in unavailable:
                note = f"not available: {unavailable[model]}"
            elif not sources:
                note = "not run in this profile"
            else:
                note = method.note
            rows.append((method.label, f"`{model}`", ", ".join(sources) or "—", *cells, note))
    caption = (
        "Table 1 reproduced: NIQE (lower is better), each cell `paper / ours`. Ours is the mean over the images "
        "of the subset named in the deviations below."
    )
    return Table(columns, tuple(rows), caption)


def metric_tables(summary: pd.DataFrame, model_order: list[str]) -> list[tuple[str, Table]]:
    """Per dataset: every model on every metric, ``mean [95% CI]``; ``(dataset, table)`` pairs."""
    out = []
    for dataset, part in summary.groupby("dataset", sort=True):
        metrics = sorted(part["metric"].unique())
        lower = {m: bool(part[part["metric"] == m]["lower_better"].iloc[0]) for m in metrics}
        columns = ("Model", "Source", *(metric_header(m, lower[m]) for m in metrics))
        models = [m for m in model_order if m in set(part["model"])] + sorted(set(part["model"]) - set(model_order))
        rows = []
        for model in models:
            mine = part[part["model"] == model]
            for source in sorted(mine["source"].unique()):
                cells = []
                for m in metrics:
                    hit = mine[(mine["source"] == source) & (mine["metric"] == m)]
                    cells.append(_ci(hit.iloc[0]) if len(hit) else "—")
                rows.append((f"`{model}`", source, *cells))
        subsets = ", ".join(sorted(part["subset"].unique()))
        caption = f"{dataset} ({subsets}): mean [95% bootstrap CI of the mean]; ↓ lower is better, ↑ higher is better."
        out.append((dataset, Table(columns, tuple(rows), caption)))
    return out


def subsets(summary: pd.DataFrame) -> dict[str, str]:
    """dataset -> the subset(s) evaluated (e.g. ``smallest 3 of 20``)."""
    return {d: ", ".join(sorted(p["subset"].unique())) for d, p in summary.groupby("dataset", sort=True)}
