"""Evaluation parameters (``profiles.<p>.evaluate``) and the synthetic validation set (``profiles.<p>.validation``).

The validation set is synthesised once, with a fixed seed, from HR images that no profile trains on
(Set14), so PSNR/SSIM of every model are measured on the same pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from replication.names import DegradationVariant

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
        # Whether metric, dataset and baseline names exist in their registries: replication.params_check
        # (params --check); the configs stay free of registries, so a stage depends only on its own.


@dataclass(frozen=True)
class ValidationConfig:
    dataset: str  # dataset registry name of the held-out HR images (never in data.train_sets)
    variant: DegradationVariant  # degradation used
    count: int  # number of synthetic LQ/GT pairs
    gt_size: int  # GT crop side in pixels (LQ side = gt_size / scale)
    seed: int
    metrics: tuple[str, ...]  # metric registry names measured on the pairs (full-reference ones need the GT)
    # Further held-out sets from the same HR images, each degraded by one of these variants (dataset
    # val-<dataset>-<variant>, data/val-extra/<variant>/): comparisons not only in the training distribution.
    extra_variants: tuple[DegradationVariant, ...] = ()

    def validate(self) -> None:
        if self.count <= 0:
            raise ValueError(f"validation.count must be positive, got {self.count}")
        if self.gt_size <= 0:
            raise ValueError(f"validation.gt_size must be positive, got {self.gt_size}")
        if self.variant in self.extra_variants or len(set(self.extra_variants)) != len(self.extra_variants):
            raise ValueError(
                f"validation.extra_variants {list(self.extra_variants)} repeats a variant (or validation.variant)"
            )
