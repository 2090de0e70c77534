"""On-the-fly training pairs for each phase: degrade -> paired crop -> pool (reference §1.3, §1.7).

The variant's ``sharpened_gt`` picks the recipe:

* ``true`` (the released x4plus models, the paper's Real-ESRGAN+): the LQ is synthesised from the
  USM-sharpened GT and the L1/perceptual targets are sharpened. Real-ESRNet: USM(gt) *replaces* the
  GT before the crop (reference ``gt_usm: True``), so the pool stores it. Real-ESRGAN: the pool
  stores the unsharpened GT and the USM is recomputed on the pooled crop; the discriminator's
  "real" input stays unsharpened (``gan_gt_usm``).
* ``false`` (our reading of the paper's Real-ESRGAN column): the plain GT is degraded and is every
  target, as the reference Real-ESRNet does with ``gt_usm: False``.
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
        sharpened_gt: bool = True,
    ) -> None:
        self.degrader = Degrader(cfg, variant, scale, device)
        self.usm = cfg.usm
        self.scale = scale
        self.gt_size = gt_size
        self.sharpened_gt = sharpened_gt
        # Every draw of the degradation (per-batch and per-sample parameters, the crop offset, and the
        # seeds of device noise fields) comes from this one CPU generator: its state is the whole state.
        self.generator = torch.Generator().manual_seed(seed)
        self.pool = TrainingPairPool(cfg.pool_size, seed=pool_seed)

    @torch.no_grad()
    def net_pair(self, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Real-ESRNet: -> (lq, target); with ``sharpened_gt`` both come from USM(gt), else from gt."""
        with synthesis_threads(self.degrader.device):
            out = self.degrader(gt, self.generator, sharpen=self.sharpened_gt)
            target = out.gt_usm if self.sharpened_gt else out.gt
            target, lq = paired_random_crop(target, out.lq, self.gt_size, self.scale, self.generator)
            return self.pool(lq.contiguous(), target.contiguous())

    @torch.no_grad()
    def gan_triplet(self, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Real-ESRGAN: -> (lq, gt, target); target = USM recomputed after the pool when ``sharpened_gt``,
        else the plain gt crop (the same tensor)."""
        with synthesis_threads(self.degrader.device):
            out = self.degrader(gt, self.generator, sharpen=self.sharpened_gt)
            gt_crop, lq = paired_random_crop(out.gt, out.lq, self.gt_size, self.scale, self.generator)
            lq, gt_crop = self.pool(lq.contiguous(), gt_crop.contiguous())
            target = usm_sharp(gt_crop, self.usm) if self.sharpened_gt else gt_crop
            return lq, gt_crop, target

    def rng_states(self) -> dict[str, torch.Tensor]:
        return {"degradation": self.generator.get_state()}

    def load_rng_states(self, states: dict[str, torch.Tensor]) -> None:
        unknown = set(states) - {"degradation"}
        if unknown:
            raise ValueError(f"unexpected RNG streams in checkpoint: {sorted(unknown)}")
        self.generator.set_state(states["degradation"])
