"""Evaluation parameters (``profiles.<p>.evaluate``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvalConfig:
    test_sets: tuple[str, ...]  # dataset registry names
    max_images: int  # 0 = every image of each test set; else the first N by name (a subset)
    metrics: tuple[str, ...]  # metric registry names
    baselines: tuple[str, ...]  # "bicubic" and weights-registry names
    tile: int  # 0 = no tiling
    bootstrap_samples: int
    seed: int
