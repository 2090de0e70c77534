"""The ``report`` stage: render ``report.md`` (+ ``static/*.png``), a self-contained ``report.html``,
``summary.csv`` (means and 95% CIs), ``metrics.json`` (means, for ``dvc metrics``), ``curves.tsv``
(every training curve in one table, for ``dvc plots``) and ``claims.csv`` (the paper claims' verdict
table as data: :data:`replication.report.claims.CSV_COLUMNS`).

Inputs (:mod:`replication.artifacts.layout`): tidy metric CSVs and SR images under ``results``, DVCLive
logs under ``runs``, the LR test inputs under ``test_root`` (``<root>/<dataset>/``, registry layout) and
the LQ images of the synthetic validation sets. ``replication report`` (:mod:`replication.report.cli`) is the
argparse adapter.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from replication.archs.weights_registry import REGISTRY
from replication.artifacts.layout import eval_images, extra_validation_dataset
from replication.artifacts.metrics_table import read_tidy, summarise
from replication.artifacts.runs import retrained_models, trained_model_notes
from replication.data.registry import image_files
from replication.errors import UserError
from replication.fsutil import write_text_atomic
from replication.outputs import prepare_output_dir
from replication.params import Params
from replication.report import paper_table, slider
from replication.report.claims import claim_results, claims_frame
from replication.report.curves import curves_tsv, find_curves
from replication.report.document import to_html, write_markdown
from replication.report.grids import grid_rows, render_grid
from replication.report.render import ReportInputs, build_report


@dataclass(frozen=True)
class ReportPaths:
    results: Path = Path("results")
    runs: Path = Path("runs")
    test_root: Path = Path("data/test")
    val_lq: Path | None = None  # LQ images of the synthetic validation set
    val_name: str = ""  # the dataset name the validation set has in the metrics
    val_extra: Path | None = None  # <val_extra>/<variant>/lq: the further validation sets (validation.extra_variants)
    previews: tuple[Path, ...] = field(default_factory=tuple)  # degradation preview PNGs
    out: Path = Path("reports")


def unavailable_models(params: Params, measured: set[str]) -> dict[str, str]:
    """Table 1 models with no result in this run, and why (the weights registry's reason)."""
    baselines = params.active.evaluate.baselines
    out = {}
    for model in paper_table.paper_models():
        if model in measured or model == "bicubic" or model in params.variants:
            continue
        entry = REGISTRY.get(model)
        if entry is None:
            out[model] = "not in the weights registry"
        elif entry.availability == "unavailable":
            out[model] = entry.reason
        elif model not in baselines:
            out[model] = f"not in this profile's evaluate.baselines ({entry.reason})"
        elif entry.availability == "manual":
            out[model] = f"listed in evaluate.baselines but no result was found ({entry.reason})"
        else:
            out[model] = "listed in evaluate.baselines but no result was found"
    return out


def shown_sets(paths: ReportPaths, params: Params) -> list[tuple[str, Callable[[], list[Path]]]]:
    """The datasets the image comparisons show, each with a function listing its LR inputs (called only
    for a dataset some model has images of): the real test sets, then the synthetic validation set and
    each further one (``<val_extra>/<variant>/lq``) when given."""

    def folder(lq: Path, what: str) -> Callable[[], list[Path]]:
        def files() -> list[Path]:
            if not lq.is_dir():
                raise UserError(f"{lq}: folder not found (the LQ images of {what})")
            return sorted(lq.iterdir())

        return files

    out: list[tuple[str, Callable[[], list[Path]]]] = [
        (d, functools.partial(image_files, paths.test_root / d, d)) for d in params.active.evaluate.test_sets
    ]
    if paths.val_name and paths.val_lq is not None:
        out.append((paths.val_name, folder(paths.val_lq, "the validation set")))
        if paths.val_extra is not None:
            for variant in params.active.validation.extra_variants:
                lq = paths.val_extra / variant / "lq"
                out.append((extra_validation_dataset(paths.val_name, variant), folder(lq, f"the {variant} set")))
    return out


def grids(paths: ReportPaths, params: Params) -> list[tuple[str, bytes]]:
    """Zoomed-crop comparison grids, one per dataset that at least one model's images exist for."""
    p = params.active
    order = [*p.evaluate.baselines, *retrained_models(params.variants, p.seeds)]
    grids = []
    for dataset, lr_files in shown_sets(paths, params):
        models = [m for m in order if eval_images(paths.results, m, dataset).is_dir()]
        if not models or p.report.grid_images == 0:
            continue
        outs = {m: eval_images(paths.results, m, dataset) for m in models}
        rows = grid_rows(lr_files(), outs, p.report.grid_images)
        if rows:
            grids.append((dataset, render_grid(rows, p.report.grid_crop, f"{dataset}: ×{p.scale} zoomed crops")))
    return grids


def comparison(paths: ReportPaths, params: Params) -> list:
    """Crops for the report's before/after slider: ``report.grid_images`` images per dataset."""
    p = params.active
    out = []
    for dataset, lr_files in shown_sets(paths, params):
        dirs = slider.slider_models(paths.results, dataset, tuple(params.variants), p.evaluate.baselines)
        if len(dirs) < 2 or p.report.grid_images == 0:
            continue
        out += slider.collect(dataset, lr_files(), dirs, p.report.grid_crop, p.report.grid_images)
    return out


def metrics_json(summary: pd.DataFrame) -> dict:
    """{dataset: {model: {metric: mean}}} — small, git-tracked, for ``dvc metrics show/diff``."""
    out: dict = {}
    for r in summary.itertuples(index=False):
        out.setdefault(r.dataset, {}).setdefault(r.model, {})[r.metric] = (
            None if pd.isna(r.mean) else round(float(r.mean), 6)
        )
    return out


def _previews(paths: ReportPaths) -> list[tuple[str, bytes]]:
    out = []
    for path in paths.previews:
        if not path.is_file():
            raise UserError(f"{path}: degradation preview not found")
        out.append((f"Degradation preview: {path.stem}", path.read_bytes()))
    return out


def report(params: Params, paths: ReportPaths) -> int:
    """Write the report files into ``paths.out``; returns the number of images written beside report.md."""
    p = params.active
    tidy = read_tidy([paths.results])
    if set(tidy["profile"]) != {params.profile}:
        raise UserError(
            f"{paths.results}: metrics of profile(s) {', '.join(sorted(set(tidy['profile'])))} but the active "
            f"profile is {params.profile!r}; rerun the evaluation or pass --profile"
        )
    summary = summarise(tidy, p.evaluate.bootstrap_samples, p.evaluate.seed)
    curves = find_curves(paths.runs)
    claims = claim_results(tidy, tuple(params.variants), p.evaluate.bootstrap_samples, p.evaluate.seed, curves)
    inputs = ReportInputs(
        params=params,
        summary=summary,
        curves=curves,
        grids=grids(paths, params),
        previews=_previews(paths),
        unavailable=unavailable_models(params, set(tidy["model"])),
        validation_dataset=paths.val_name,
        tidy=tidy,
        comparison=comparison(paths, params),
        training_notes=trained_model_notes(paths.runs),
        claims=claims,
    )
    doc = build_report(inputs)
    prepare_output_dir(paths.out, "report")
    written = write_markdown(doc, paths.out / "report.md")
    write_text_atomic(paths.out / "report.html", to_html(doc))
    write_text_atomic(paths.out / "summary.csv", summary.to_csv(index=False, float_format="%.6g"))
    write_text_atomic(paths.out / "metrics.json", json.dumps(metrics_json(summary), indent=1, sort_keys=True) + "\n")
    write_text_atomic(paths.out / "curves.tsv", curves_tsv(curves))
    write_text_atomic(paths.out / "claims.csv", claims_frame(claims).to_csv(index=False, float_format="%.6g"))
    return len(written) - 1
