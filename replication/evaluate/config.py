"""Evaluation parameters (``profiles.<p>.evaluate``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

# How ``max_images`` picks a subset of a real test set: the N with the fewest pixels (cheapest, but
# not a random sample of the set), or N drawn at random with ``selection_seed`` (docs/claims.md).
Selection = Literal["smallest", "random"]


@dataclass(frozen=True)
class EvalConfig:
    test_sets: tuple[str, ...]  # dataset registry names
    max_images: int  # 0 = every image of each test set; else a subset of N chosen by `selection`
    metrics: tuple[str, ...]  # metric registry names (replication/evaluate/registry.py)
    baselines: tuple[str, ...]  # "bicubic" and weights-registry names
    tile: int  # 0 = no tiling
    bootstrap_samples: int  # resamples for the 95% percentile-bootstrap confidence interval of a mean
    seed: int  # seed of the bootstrap resampling
    # Border cropped before the metrics, in output pixels. No-reference (NIQE...): 0, as BasicSR's
    # calculate_niqe script; full-reference (PSNR/SSIM/LPIPS): the scale, as BasicSR's test configs.
    nr_crop_border: int
    fr_crop_border: int
    selection: Selection = "smallest"
    selection_seed: int = 0  # seed of the random subset (selection: random)

    def validate(self) -> None:
        if self.max_images < 0:
            raise ValueError(f"max_images must be >= 0 (0 = all images), got {self.max_images}")
        if self.tile < 0:
            raise ValueError(f"tile must be >= 0 (0 = no tiling), got {self.tile}")
        if self.bootstrap_samples < 1:
            raise ValueError(f"bootstrap_samples must be >= 1, got {self.bootstrap_samples}")
        for key in ("nr_crop_border", "fr_crop_border"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must be >= 0, got {getattr(self, key)}")
        # Metric names are checked against the registry lazily (importing it here would be circular).
        from replication.evaluate.registry import METRICS

        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"metrics: unknown metric {unknown[0]!r} (known: {', '.join(METRICS)})")


# A results folder, a DVC stage key and a report label: letters, digits, '_', '.', '-'.
_EXTERNAL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_external_name(name: str, variants: Iterable[str]) -> None:
    """An external model's name must be a plain folder name that no other model of the report has:
    not ``bicubic``, a weights-registry name, or a retrained run name (``<variant>[-s<seed>][-net]``)."""
    from replication.archs.weights_registry import REGISTRY  # pure data

    if not _EXTERNAL_NAME.fullmatch(name):
        raise ValueError(f"external model name {name!r}: use letters, digits, '_', '.', '-' (a folder name)")
    taken = "bicubic" if name == "bicubic" else "a weights-registry model" if name in REGISTRY else None
    stem = re.sub(r"(-s\d+)?(-net)?$", "", name)
    if taken is None and stem in set(variants):
        taken = f"a retrained run of variant {stem!r}"
    if taken is not None:
        raise ValueError(f"external model name {name!r} is {taken}'s name; pick another")


def check_external_models(models: dict[str, str], variants: Iterable[str]) -> None:
    """``external_models`` (name -> model file): names as :func:`check_external_name`, files relative to
    the project (dvc.lock records them, so it holds on any machine) and never outside it."""
    for name, path in models.items():
        check_external_name(name, variants)
        parts = PurePosixPath(path).parts
        if not path or PurePosixPath(path).is_absolute() or ".." in parts or "\\" in path:
            raise ValueError(f"external_models.{name}: {path!r} must be a path inside the project, relative to it")
