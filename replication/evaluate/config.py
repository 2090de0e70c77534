"""Evaluation parameters (``profiles.<p>.evaluate``)."""

from __future__ import annotations

from dataclasses import dataclass
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
