"""The report's tables, built from the summary of the tidy metrics
(:func:`replication.artifacts.metrics_table.summarise`, columns ``SUMMARY_COLUMNS`` there).
"""

from __future__ import annotations

import math

import pandas as pd

from replication.artifacts.runs import parse_model
from replication.names import EXTERNAL_SOURCE
from replication.report import paper_table
from replication.report.document import Table
from replication.report.seeds import metric_header


def _fmt(v: float, digits: int = 4) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _ci(row: pd.Series, digits: int = 3) -> str:
    if row["n"] < 2 or math.isnan(row["ci_low"]):
        return f"{_fmt(row['mean'], digits)} (n={int(row['n'])})"
    return f"{_fmt(row['mean'], digits)} [{_fmt(row['ci_low'], digits)}, {_fmt(row['ci_high'], digits)}]"


def external_models(summary: pd.DataFrame) -> list[str]:
    """Models the user brought (tidy ``source`` ``external``: ``evaluate --source external``,
    ``external_models`` in params.yaml), by name: each gets a Table 1 row and a place in every table,
    grid and slider."""
    if summary.empty:
        return []
    return sorted(set(summary.loc[summary["source"] == EXTERNAL_SOURCE, "model"]))


def external_label(model: str) -> str:
    """How the report names an external model in Table 1, the grids and the slider."""
    return f"{model} (external)"


def table1_datasets(summary: pd.DataFrame, test_sets: tuple[str, ...]) -> list[str]:
    """Table 1's test sets first (paper order), then this profile's other real test sets."""
    paper = [t.dataset for t in paper_table.TEST_SETS]
    return paper + [d for d in test_sets if d not in paper]


def _mean_sd(values: list[float]) -> str:
    """``mean`` for one value, ``mean ± sd`` (sample sd over seeds) for several."""
    if len(values) == 1:
        return _fmt(values[0])
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{_fmt(mean)} ± {_fmt(sd)}"


class _Footnotes:
    """Numbered notes, each text once: the Note column holds only ``[n]`` so it never gets wide."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def mark(self, text: str) -> str:
        if not text:
            return ""
        if text not in self.texts:
            self.texts.append(text)
        return f"[{self.texts.index(text) + 1}]"


def table1(
    summary: pd.DataFrame,
    test_sets: tuple[str, ...],
    unavailable: dict[str, str],
) -> tuple[Table, tuple[str, ...]]:
    """The paper's NIQE next to ours: one row per (paper method, our model), one column per test set,
    and the notes the rows and columns refer to.

    A retrained variant is one row: the mean over its seeds of the per-seed means (Real-ESRGAN phase),
    ``± the sample sd over seeds`` when there are several. A cell reads ``paper / ours``; ``—`` marks a
    value that does not exist, and the notes say why (the paper did not use the set, the set is not in
    this profile's ``evaluate.test_sets``, or the model is not available).
    """
    datasets = table1_datasets(summary, test_sets)
    niqe = summary[summary["metric"] == paper_table.METRIC].set_index(["model", "dataset"])
    labels = {t.dataset: t.label for t in paper_table.TEST_SETS}
    columns = ("Method (paper)", "Our model", "Source", *(f"{labels.get(d, d)}: NIQE ↓" for d in datasets), "Note")
    retrained: dict[str, dict[int, str]] = {}  # variant -> {seed: its Real-ESRGAN model, as named in the results}
    for name in niqe.index.get_level_values(0).unique():
        parsed = parse_model(name)
        if parsed is not None and parsed.phase == "gan":
            retrained.setdefault(parsed.variant, {})[parsed.seed] = name
    measured = set(niqe.index.get_level_values(0))
    notes = _Footnotes()
    rows = []
    comparable = 0
    for method in paper_table.METHODS:
        for name in method.models:
            runs = retrained.get(name, {})
            models = [runs[seed] for seed in sorted(runs)] or [name]
            present = [m for m in models if m in measured]
            sources = sorted({src for m in present for src in niqe.loc[m].reset_index()["source"]})
            cells = []
            for d in datasets:
                paper = paper_table.paper_value(d, method.label)
                ours = []
                for m in present:
                    if (m, d) in niqe.index:
                        hit = niqe.loc[(m, d)]
                        # the same model measured with two sources: the first
                        ours.append(float(hit.iloc[0]["mean"] if isinstance(hit, pd.DataFrame) else hit["mean"]))
                comparable += paper is not None and bool(ours)
                cells.append(f"{_fmt(paper) if paper is not None else '—'} / {_mean_sd(ours) if ours else '—'}")
            if runs:
                seeds = sorted(runs)
                shown = f"`{name}` (seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))})"
            else:
                shown = f"`{name}`"
            if name in unavailable:
                note = notes.mark(f"`{name}` not available: {unavailable[name]}")
            elif not sources:
                note = notes.mark(f"`{name}`: not run in this profile")
            else:
                note = notes.mark(f"{method.label}: {method.note}" if method.note else "")
            rows.append((method.label, shown, ", ".join(sources) or "—", *cells, note))
    for model in external_models(summary):  # the paper has no value for them: `— / ours`
        cells = []
        for d in datasets:
            hit = niqe.loc[(model, d)] if (model, d) in niqe.index else None
            if isinstance(hit, pd.DataFrame):
                hit = hit.iloc[0]
            cells.append(f"— / {_fmt(hit['mean']) if hit is not None else '—'}")
        note = notes.mark(f"`{model}`: your model (`--source external`); the paper has no column for it")
        rows.append((external_label(model), f"`{model}`", EXTERNAL_SOURCE, *cells, note))
    caption = (
        "Table 1 reproduced: NIQE (lower is better), each cell `paper / ours`. Ours is the mean over the images "
        "of the subset named in the deviations below; a retrained variant's is the mean over its seeds of the "
        "per-seed means, ± the sample standard deviation over seeds."
    )
    return Table(columns, tuple(rows), caption), (
        *_column_notes(datasets, test_sets, niqe, comparable),
        *(f"[{i}] {text}" for i, text in enumerate(notes.texts, start=1)),
    )


def _column_notes(datasets: list[str], test_sets: tuple[str, ...], niqe: pd.DataFrame, comparable: int) -> list[str]:
    """Why a column holds only the paper's values or only ours."""
    paper_sets = {t.dataset: t.label for t in paper_table.TEST_SETS}
    have = set(niqe.index.get_level_values(1))
    not_run = [paper_sets[d] for d in datasets if d in paper_sets and d not in test_sets]
    no_result = [paper_sets[d] for d in datasets if d in paper_sets and d in test_sets and d not in have]
    ours_only = [d for d in datasets if d not in paper_sets]
    out = []
    if not comparable:
        out.append("No cell holds both a paper value and ours, for the reasons below.")
    if not_run:
        out.append(
            f"Paper values only ({', '.join(not_run)}): the paper's test sets that are not in this profile's "
            "`evaluate.test_sets` (most need a browser download into `data/manual/`: docs/pipeline.md)."
        )
    if no_result:
        out.append(
            f"Paper values only ({', '.join(no_result)}): listed in `evaluate.test_sets` but no result was found."
        )
    if ours_only:
        out.append(f"Ours only ({', '.join(ours_only)}): test sets the paper's Table 1 did not use.")
    return out


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
