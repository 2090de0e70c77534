"""The ``report`` stage: render ``report.md`` (+ ``static/*.png``), a self-contained ``report.html``,
``summary.csv`` (means and 95% CIs), ``metrics.json`` (every mean), ``headline.json`` (two numbers per
compared model: the declared metric that ``dvc metrics show`` lists), ``curves.tsv``
(every training curve in one table, for ``dvc plots``), ``claims.csv`` (the paper claims' verdict
table as data: :data:`replication.report.claims.CSV_COLUMNS`, computed by the claims stage's own
function from the claims definition) and ``tidy.csv.gz`` (every per-image metric, so that
``replication claims --results tidy.csv.gz --runs curves.tsv`` recomputes claims.csv from the report alone).

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
from replication.fsutil import atomic_open, write_text_atomic
from replication.outputs import output_dir
from replication.params import Params
from replication.report import paper_table, slider
from replication.report.claims import claims_csv_text
from replication.report.claims_stage import compute_claims, load_definition, tidy_gzip_bytes
from replication.report.curves import curves_tsv, find_curves
from replication.report.document import to_html, write_markdown
from replication.report.grids import REFERENCE, Grid, grid_rows, render_grid
from replication.report.render import ReportInputs, build_report
from replication.report.tables import external_label, external_models


@dataclass(frozen=True)
class ReportPaths:
    results: Path = Path("results")
    runs: Path = Path("runs")
    test_root: Path = Path("data/test")
    val_lq: Path | None = None  # LQ images of the synthetic validation set
    val_name: str = ""  # the dataset name the validation set has in the metrics
    val_extra: Path | None = None  # <val_extra>/<variant>/lq: the further validation sets (validation.extra_variants)
    previews: tuple[Path, ...] = field(default_factory=tuple)  # degradation preview PNGs
    claims: Path = Path("claims.yaml")  # the claims definition
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


@dataclass(frozen=True)
class ShownSet:
    """A dataset the image comparisons show."""

    dataset: str
    lr_files: Callable[[], list[Path]]  # its LR inputs (called only when some model has images of it)
    gt_dir: Path | None = None  # the GT of a synthetic set (same file names as the LQ)
    names: dict[str, str] = field(default_factory=dict)  # file name -> readable title


def synthetic_names(folder: Path, heldout: str) -> dict[str, str]:
    """``000003.png`` -> ``val #3 (set14 baboon.png)``: the held-out image each pair of a synthetic set was
    cut from, as ``synthesis.json`` records it; {} when the file is absent or holds no sources."""
    try:
        sources = json.loads((folder / "synthesis.json").read_text(encoding="utf-8")).get("sources", [])
    except (OSError, ValueError, AttributeError):
        return {}
    return {f"{i:06d}.png": f"val #{i} ({heldout} {src})" for i, src in enumerate(sources) if isinstance(src, str)}


def shown_sets(paths: ReportPaths, params: Params) -> list[ShownSet]:
    """The datasets the image comparisons show: the real test sets, then the synthetic validation set and
    each further one (``<val_extra>/<variant>/lq``) when given, with their GT folders and image titles."""

    def folder(lq: Path, what: str) -> Callable[[], list[Path]]:
        def files() -> list[Path]:
            if not lq.is_dir():
                raise UserError(f"{lq}: folder not found (the LQ images of {what})")
            return sorted(lq.iterdir())

        return files

    def synthetic(dataset: str, lq: Path, what: str) -> ShownSet:
        gt = lq.parent / "gt"
        heldout = params.active.validation.dataset
        return ShownSet(dataset, folder(lq, what), gt if gt.is_dir() else None, synthetic_names(lq.parent, heldout))

    out = [
        ShownSet(d, functools.partial(image_files, paths.test_root / d, d)) for d in params.active.evaluate.test_sets
    ]
    if paths.val_name and paths.val_lq is not None:
        out.append(synthetic(paths.val_name, paths.val_lq, "the validation set"))
        if paths.val_extra is not None:
            for variant in params.active.validation.extra_variants:
                lq = paths.val_extra / variant / "lq"
                out.append(synthetic(extra_validation_dataset(paths.val_name, variant), lq, f"the {variant} set"))
    return out


def _panel(model: str, external: tuple[str, ...]) -> str:
    """A grid panel's label: the model's name, "NAME (external)" for a model the user brought."""
    return external_label(model) if model in external else model


def grid_models(params: Params) -> tuple[list[str], list[str]]:
    """(shown first, behind a fold): bicubic, the baselines and each variant's Real-ESRGAN at the
    representative seed (the profile's lowest); then every other retrained model (the other seeds and
    the Real-ESRNet phase)."""
    p = params.active
    first = min(p.seeds)
    retrained = retrained_models(params.variants, p.seeds, p.single_seed_variants)
    representative = retrained_models(params.variants, (first,))
    main = [*p.evaluate.baselines, *(m for m in representative if not m.endswith("-net"))]
    return main, [m for m in retrained if m not in main]


def grids(paths: ReportPaths, params: Params, external: tuple[str, ...] = ()) -> list[Grid]:
    """Zoomed-crop comparison grids, one per dataset that at least one model's images exist for; the
    ``external`` models (:func:`replication.report.tables.external_models`) after the main panels."""
    p = params.active
    main, rest = grid_models(params)
    main = [*main, *external]
    out = []
    for shown in shown_sets(paths, params):
        have = {m: eval_images(paths.results, m, shown.dataset) for m in (*main, *rest)}
        have = {m: d for m, d in have.items() if d.is_dir()}
        if not have or p.report.grid_images == 0:
            continue
        gt = {REFERENCE: shown.gt_dir} if shown.gt_dir is not None else {}
        files = shown.lr_files()
        title = f"{shown.dataset}: ×{p.scale} zoomed crops"
        first = {_panel(m, external): have[m] for m in main if m in have}
        shown_first = first or {_panel(m, external): d for m, d in have.items()}
        rows = grid_rows(files, {**gt, **shown_first}, p.report.grid_images, shown.names)
        if not rows:
            continue
        more = None
        others = {m: have[m] for m in rest if m in have} if first else {}
        if others:
            more_rows = grid_rows(files, {**gt, **others}, p.report.grid_images, shown.names)
            if more_rows:
                more = render_grid(more_rows, p.report.grid_crop, f"{title}: other seeds, Real-ESRNet phase")
        out.append(Grid(shown.dataset, render_grid(rows, p.report.grid_crop, title), more))
    return out


def comparison(paths: ReportPaths, params: Params, external: tuple[str, ...] = ()) -> list:
    """Crops for the report's before/after slider: ``report.grid_images`` images per dataset."""
    p = params.active
    out = []
    for shown in shown_sets(paths, params):
        dirs = slider.slider_models(
            paths.results, shown.dataset, tuple(params.variants), p.evaluate.baselines, external
        )
        if len(dirs) < 2 or p.report.grid_images == 0:
            continue
        if shown.gt_dir is not None:
            dirs = {**dirs, REFERENCE: shown.gt_dir}
        out += slider.collect(
            shown.dataset, shown.lr_files(), dirs, p.report.grid_crop, p.report.grid_images, shown.names
        )
    return out


def metrics_json(summary: pd.DataFrame) -> dict:
    """{dataset: {model: {metric: mean}}} — small, git-tracked, for ``dvc metrics show/diff``."""
    out: dict = {}
    for r in summary.itertuples(index=False):
        out.setdefault(r.dataset, {}).setdefault(r.model, {})[r.metric] = (
            None if pd.isna(r.mean) else round(float(r.mean), 6)
        )
    return out


def headline_json(summary: pd.DataFrame, params: Params, val_name: str) -> dict:
    """{model: {"<metric>_test": mean, "<metric>_val": mean}} — the few numbers `dvc metrics show` lists.

    One row per model a reader compares: bicubic, each baseline (and any other non-retrained model),
    and each variant's Real-ESRGAN as the mean over its seeds. ``<metric>_test`` is the first of
    ``evaluate.metrics`` averaged over the real test sets (each set weighs the same; a model's seeds are
    averaged within a set first), ``<metric>_val`` the first of ``validation.metrics`` on the synthetic
    validation set. About two columns per model keeps the table under 50 columns for every profile;
    the full table (every model, set and metric) is ``metrics.json``."""
    from replication.artifacts.runs import parse_model

    p = params.active
    wanted = [(f"{p.evaluate.metrics[0]}_test", p.evaluate.metrics[0], set(p.evaluate.test_sets))]
    if val_name and p.validation.metrics:
        wanted.append((f"{p.validation.metrics[0]}_val", p.validation.metrics[0], {val_name}))

    def row_of(model: str) -> str | None:
        parsed = parse_model(model)
        if parsed is None or parsed.variant not in params.variants:
            return model  # bicubic, a baseline, an external model
        return parsed.variant if parsed.phase == "gan" else None  # Real-ESRNet: in metrics.json only

    out: dict = {}
    for key, metric, datasets in wanted:
        part = summary[(summary["metric"] == metric) & summary["dataset"].isin(datasets)].copy()
        part["row"] = part["model"].map(row_of)
        part = part.dropna(subset=["row", "mean"])
        per_set = part.groupby(["row", "dataset"], sort=True)["mean"].mean()
        for row, value in per_set.groupby(level=0).mean().items():
            out.setdefault(str(row), {})[key] = round(float(value), 6)
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
    definition = load_definition(paths.claims, params)
    tidy = read_tidy([paths.results])
    if set(tidy["profile"]) != {params.profile}:
        raise UserError(
            f"{paths.results}: metrics of profile(s) {', '.join(sorted(set(tidy['profile'])))} but the active "
            f"profile is {params.profile!r}; rerun the evaluation or pass --profile"
        )
    summary = summarise(tidy, p.evaluate.bootstrap_samples, p.evaluate.seed)
    external = tuple(external_models(summary))  # source `external`: shown in every table, grid and slider
    curves = find_curves(paths.runs)
    claims = compute_claims(params, definition, tidy, curves)
    inputs = ReportInputs(
        params=params,
        summary=summary,
        curves=curves,
        grids=grids(paths, params, external),
        previews=_previews(paths),
        unavailable=unavailable_models(params, set(tidy["model"])),
        validation_dataset=paths.val_name,
        tidy=tidy,
        comparison=comparison(paths, params, external),
        training_notes=trained_model_notes(paths.runs),
        claims=claims,
        claims_reference=definition.reference,
    )
    doc = build_report(inputs)
    # Built beside --out and merged into it when complete: an interrupted run leaves no partial report,
    # and the other files of a shared folder are kept (outputs.output_dir).
    with output_dir(paths.out, "report", accumulate=True) as tmp:
        written = write_markdown(doc, tmp / "report.md")
        write_text_atomic(tmp / "report.html", to_html(doc))
        write_text_atomic(tmp / "summary.csv", summary.to_csv(index=False, float_format="%.6g"))
        write_text_atomic(tmp / "metrics.json", json.dumps(metrics_json(summary), indent=1, sort_keys=True) + "\n")
        headline = headline_json(summary, params, paths.val_name)
        write_text_atomic(tmp / "headline.json", json.dumps(headline, indent=1, sort_keys=True) + "\n")
        write_text_atomic(tmp / "curves.tsv", curves_tsv(curves))
        write_text_atomic(tmp / "claims.csv", claims_csv_text(claims))
        with atomic_open(tmp / "tidy.csv.gz") as fh:
            fh.write(tidy_gzip_bytes(tidy))
    return len(written) - 1
