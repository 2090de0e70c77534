"""The ``evaluate-all`` stage: one model on every set the active profile measures, in one process.

The sets, each written as ``<out>/<dataset>/images/`` and ``<out>/<dataset>/metrics.csv`` (the layout
``replication evaluate`` gives with ``--out-images <out>/<dataset>/images --out-metrics
<out>/<dataset>/metrics.csv``, so the report reads both alike):

* every real test set of ``evaluate.test_sets``, read from ``<test-root>/<set>/`` (a download root per
  set), with ``evaluate.metrics`` on ``evaluate.max_images`` images;
* the synthetic validation set ``val-<validation.dataset>`` (``<val>/lq`` against ``<val>/gt``) and each
  further one ``val-<validation.dataset>-<variant>`` (``<val-extra>/<variant>/{lq,gt}``), with
  ``validation.metrics`` on every pair.

Why one process per model: a pipeline stage per (model, set) spends about ten seconds starting Python,
torch and the metric models for a tenth of a second of PSNR. The numbers do not change: each set goes
through :func:`replication.evaluate.stage.evaluate` exactly as a separate ``evaluate`` run would, with
the network and scorers loaded once (:class:`~replication.evaluate.stage.EvalTools`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from replication.artifacts.layout import extra_validation_dataset, validation_dataset
from replication.data.registry import image_dir
from replication.errors import UsageError, UserError
from replication.evaluate.settings import EvalParams
from replication.evaluate.stage import EvalOutcome, EvalRequest, EvalTools, check_source, evaluate


@dataclass(frozen=True)
class SuiteRequest:
    """One model, the roots of the sets to measure (None: skip that kind), and where to write."""

    model: str  # "bicubic" or a model file (replication.archs.loading: ours, official .pth, spandrel)
    name: str  # the `model` column
    source: str  # the `source` column
    out: Path  # <out>/<dataset>/{images/,metrics.csv}
    test_root: Path | None = None  # <test_root>/<set>/: the download root of each evaluate.test_sets set
    val: Path | None = None  # <val>/{lq,gt}: the synthetic validation set
    val_extra: Path | None = None  # <val_extra>/<variant>/{lq,gt}: one per validation.extra_variants
    tile: int | None = None  # None: evaluate.tile
    weights_dirs: tuple[Path, ...] = ()
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    progress: bool = True


def plan(params: EvalParams, req: SuiteRequest) -> list[EvalRequest]:
    """The evaluations of ``req``, one per set, in a fixed order (test sets, validation, extra sets)."""
    if req.test_root is None and req.val is None and req.val_extra is None:
        raise UsageError("nothing to evaluate: give --test-root, --val and/or --val-extra")
    check_source(req.source, req.model, list(params.profiles), req.name, params.variants)
    base = EvalRequest(
        model=req.model,
        name=req.name,
        source=req.source,
        dataset="",
        input=Path(),
        out_images=Path(),
        out_metrics=Path(),
        tile=req.tile,
        weights_dirs=req.weights_dirs,
        device=req.device,
        progress=req.progress,
    )

    def one(dataset: str, input_dir: Path, **extra) -> EvalRequest:
        out = req.out / dataset  # = eval_dir(results, name, dataset) when --out is results/<name>
        return replace(
            base,
            dataset=dataset,
            input=input_dir,
            out_images=out / "images",
            out_metrics=out / "metrics.csv",
            **extra,
        )

    active = params.active
    jobs = []
    if req.test_root is not None:
        for name in active.evaluate.test_sets:
            jobs.append(one(name, Path(image_dir(str(req.test_root / name), name))))
    # Every pair of a synthetic set is scored (max_images 0): they are small and chosen by seed, not size.
    val_metrics = ",".join(active.validation.metrics)
    pairs = []
    val_name = validation_dataset(active.validation.dataset)
    if req.val is not None:
        pairs.append((val_name, req.val))
    if req.val_extra is not None:
        pairs += [(extra_validation_dataset(val_name, v), req.val_extra / v) for v in active.validation.extra_variants]
    for dataset, root in pairs:
        for part in ("lq", "gt"):
            if not (root / part).is_dir():
                raise UserError(f"{root / part}: folder not found (the {part.upper()} images of {dataset})")
        jobs.append(one(dataset, root / "lq", reference=root / "gt", metrics=val_metrics, max_images=0))
    return jobs


def evaluate_all(params: EvalParams, req: SuiteRequest) -> list[tuple[EvalRequest, EvalOutcome]]:
    """Run every evaluation of :func:`plan`, the model and scorers loaded once."""
    jobs = plan(params, req)
    tools = EvalTools()
    return [(job, evaluate(params, job, tools)) for job in jobs]
