"""On-the-fly training pairs for each phase: degrade -> paired crop -> pool (reference §1.3, §1.7).

Both phases synthesise the LQ from the USM-sharpened GT (the degradation engine does that). They
differ in what the pool stores and what the losses compare with:

* Real-ESRNet: the sharpened GT *replaces* the GT (``gt_usm: True``) before the crop, so the pool
  stores it and the L1 target is sharp;
* Real-ESRGAN: the pool stores the unsharpened GT, and ``gt_usm`` is recomputed on the pooled crop
  (L1/perceptual targets); the discriminator's "real" input stays unsharpened.
"""

from __future__ import annotations

import torch

from replication.degrade.config import DegradationConfig
from replication.degrade.crop import paired_random_crop
from replication.degrade.pipeline import Degrader, synthesis_threads
from replication.degrade.pool import TrainingPairPool
from replication.degrade.usm import usm_sharp


class Synthesizer:
    """Owns the degradation engine, its CPU generator and this process's training-pair pool.

    Inputs are GT batches (B, 3, gt_crop, gt_crop); outputs are on ``device``: LQ (B, 3, p/s, p/s)
    and GT-like tensors (B, 3, p, p) with p = ``gt_size``, s = ``scale``.
    """

    def __init__(
        self,
        cfg: DegradationConfig,
        variant: str,
        scale: int,
        gt_size: int,
        device: torch.device,
        *,
        seed: int,
        pool_seed: int,
    ) -> None:
        self.degrader = Degrader(cfg, variant, scale, device)
        self.usm = cfg.usm
        self.scale = scale
        self.gt_size = gt_size
        # Every draw of the degradation (per-batch and per-sample parameters, the crop offset, and the
        # seeds of device noise fields) comes from this one CPU generator: its state is the whole state.
        self.generator = torch.Generator().manual_seed(seed)
        self.pool = TrainingPairPool(cfg.pool_size, seed=pool_seed)

    @torch.no_grad()
    def net_pair(self, gt: torch.Tensor, sharpen_target: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Real-ESRNet: -> (lq, target); target = USM(gt) when ``sharpen_target`` (the reference's gt_usm)."""
        with synthesis_threads(self.degrader.device):
            out = self.degrader(gt, self.generator)
            target = out.gt_usm if sharpen_target else out.gt
            target, lq = paired_random_crop(target, out.lq, self.gt_size, self.scale, self.generator)
            return self.pool(lq.contiguous(), target.contiguous())

    @torch.no_grad()
    def gan_triplet(self, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Real-ESRGAN: -> (lq, gt, gt_usm) with gt_usm recomputed after the pool."""
        with synthesis_threads(self.degrader.device):
            out = self.degrader(gt, self.generator)
            gt_crop, lq = paired_random_crop(out.gt, out.lq, self.gt_size, self.scale, self.generator)
            lq, gt_crop = self.pool(lq.contiguous(), gt_crop.contiguous())
            return lq, gt_crop, usm_sharp(gt_crop, self.usm)

    def rng_states(self) -> dict[str, torch.Tensor]:
        return {"degradation": self.generator.get_state()}

    def load_rng_states(self, states: dict[str, torch.Tensor]) -> None:
        unknown = set(states) - {"degradation"}
        if unknown:
            raise ValueError(f"unexpected RNG streams in checkpoint: {sorted(unknown)}")
        self.generator.set_state(states["degradation"])
