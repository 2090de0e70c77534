"""Where stages put their outputs; ``dvc.yaml`` spells the same paths out for DVC.

``results/<model>/<dataset>/{images/,metrics.csv}``: one evaluation (``replication evaluate``; ``replication
evaluate-all`` writes every dataset of one model as ``results/<model>/``);
``runs/<run>/<phase>/{model.safetensors,model.json,checkpoints/,dvclive/}``: one training phase; a run
is ``<variant>-s<seed>`` (:mod:`replication.artifacts.runs`).
"""

from __future__ import annotations

from pathlib import Path

from replication.names import PHASES, Phase

__all__ = [
    "PHASES",
    "Phase",
    "dvclive_metrics_dir",
    "eval_dir",
    "eval_images",
    "eval_metrics",
    "extra_validation_dataset",
    "run_dir",
    "validation_dataset",
]


def validation_dataset(heldout_set: str) -> str:
    """The `dataset` name of the synthetic validation set made from the held-out set ``heldout_set``."""
    return f"val-{heldout_set}"


def extra_validation_dataset(val_name: str, variant: str) -> str:
    """The `dataset` name of the further synthetic set degraded by ``variant`` (validation.extra_variants)."""
    return f"{val_name}-{variant}"


def eval_dir(results: Path, model: str, dataset: str) -> Path:
    """The folder of one model's evaluation on one test set."""
    return results / model / dataset


def eval_images(results: Path, model: str, dataset: str) -> Path:
    """The model's super-resolved images of ``dataset``."""
    return eval_dir(results, model, dataset) / "images"


def eval_metrics(results: Path, model: str, dataset: str) -> Path:
    """The tidy metrics CSV of one evaluation (:mod:`replication.artifacts.metrics_table`)."""
    return eval_dir(results, model, dataset) / "metrics.csv"


def run_dir(runs: Path, variant: str, phase: Phase) -> Path:
    """The output folder of one training phase of one variant."""
    return runs / variant / phase


def dvclive_metrics_dir(runs: Path, variant: str, phase: Phase) -> Path:
    """The per-step metric curves DVCLive writes for one training phase."""
    return run_dir(runs, variant, phase) / "dvclive" / "plots" / "metrics"
