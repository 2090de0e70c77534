"""The training-pair pool: mixes synthesised pairs across batches.

Within a batch several degradation draws (resize, noise family, order, crop offset) are shared, so
consecutive batches are internally similar. The pool (reference ``_dequeue_and_enqueue``) restores
diversity: while it fills, each batch is stored and returned unchanged; once full, every call
shuffles the whole pool, returns its first B pairs and puts the new batch in their place.

Unlike the reference we save the pool (tensors, fill level, RNG state) in ``state_dict`` so a
resumed run continues bit for bit.
"""

from __future__ import annotations

import torch


class TrainingPairPool:
    """Pool of ``size`` (LQ, GT) pairs; ``size = 0`` passes batches through unchanged.

    ``seed`` seeds the pool's own CPU generator (the shuffles), which is part of ``state_dict``.
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        if size < 0:
            raise ValueError(f"pool size must be >= 0, got {size}")
        self.size = size
        self._generator = torch.Generator().manual_seed(seed)
        self._lq: torch.Tensor | None = None
        self._gt: torch.Tensor | None = None
        self._filled = 0

    @property
    def filled(self) -> int:
        """Number of pairs stored so far (== ``size`` once full)."""
        return self._filled

    def __call__(self, lq: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, h, w), (B, C, H, W) -> a training batch of the same shapes."""
        if self.size == 0:
            return lq, gt
        b = lq.shape[0]
        if gt.shape[0] != b:
            raise ValueError(f"LQ batch of {b} but GT batch of {gt.shape[0]}")
        if self.size % b:
            raise ValueError(f"pool size {self.size} is not divisible by the batch size {b}")
        if self._lq is None:
            self._lq = lq.new_zeros((self.size, *lq.shape[1:]))
            self._gt = gt.new_zeros((self.size, *gt.shape[1:]))
        assert self._gt is not None
        if self._lq.shape[1:] != lq.shape[1:] or self._gt.shape[1:] != gt.shape[1:]:
            raise ValueError(
                f"pool holds LQ {tuple(self._lq.shape[1:])} / GT {tuple(self._gt.shape[1:])}, "
                f"got LQ {tuple(lq.shape[1:])} / GT {tuple(gt.shape[1:])}"
            )
        if self._filled < self.size:
            self._lq[self._filled : self._filled + b] = lq
            self._gt[self._filled : self._filled + b] = gt
            self._filled += b
            return lq, gt
        perm = torch.randperm(self.size, generator=self._generator).to(self._lq.device)
        self._lq = self._lq[perm]
        self._gt = self._gt[perm]
        out_lq, out_gt = self._lq[:b].clone(), self._gt[:b].clone()
        self._lq[:b] = lq
        self._gt[:b] = gt
        return out_lq, out_gt

    def state_dict(self) -> dict:
        """Everything needed to continue bit for bit (tensors are on the pool's device)."""
        return {
            "size": self.size,
            "filled": self._filled,
            "lq": self._lq,
            "gt": self._gt,
            "generator": self._generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        if state["size"] != self.size:
            raise ValueError(f"checkpoint pool has size {state['size']}, this pool {self.size}")
        filled = int(state["filled"])
        if not 0 <= filled <= self.size:
            raise ValueError(f"checkpoint pool fill level {filled} outside [0, {self.size}]")
        self._filled = filled
        self._lq = None if state["lq"] is None else state["lq"].clone()
        self._gt = None if state["gt"] is None else state["gt"].clone()
        self._generator.set_state(state["generator"])
