"""Parameters of data download and preparation (``profiles.<p>.data``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataConfig:
    train_sets: tuple[str, ...]  # dataset registry names used for training (DF2K + OST in the paper)
    multiscale_sets: tuple[str, ...]  # which of train_sets get the multi-scale copies (DF2K only)
    multiscale_factors: tuple[float, ...]  # LANCZOS downscales kept beside the original
    multiscale_shortest_edge: int  # one more copy resized so its shortest edge is this (0: none)
    crop_size: int  # sub-image size
    crop_step: int  # sub-image stride
    thresh_size: int  # a last border of at most this many pixels gets no crop of its own
    shard_size: int  # sub-images per tar shard (keeps DVC fast at ~200k files)

    def validate(self) -> None:
        if not set(self.multiscale_sets) <= set(self.train_sets):
            raise ValueError("data.multiscale_sets must be a subset of data.train_sets")
        if any(not 0 < f < 1 for f in self.multiscale_factors):
            raise ValueError("data.multiscale_factors must lie in (0, 1)")
        if self.crop_step <= 0 or self.crop_size <= 0 or self.shard_size <= 0:
            raise ValueError("data.crop_size, data.crop_step and data.shard_size must be positive")
        if self.thresh_size < 0 or self.multiscale_shortest_edge < 0:
            raise ValueError("data.thresh_size and data.multiscale_shortest_edge must be >= 0")
        if not self.train_sets:
            raise ValueError("data.train_sets must name at least one dataset")
        # Whether the names exist in the dataset registry: replication.params_check (params --check).
