"""Losses of the two phases (reference: BasicSR ``L1Loss``, ``PerceptualLoss``, ``GANLoss('vanilla')``).

All inputs are (N, 3, H, W) float32 RGB in [0, 1]; every loss returns a scalar (mean reduction).
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from replication.archs.vgg import VGGFeatureExtractor


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over every element."""
    return F.l1_loss(pred, target)


def gan_loss(logits: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    """Vanilla GAN loss: BCE-with-logits against a constant label map of ``logits``' shape.

    ``logits``: (N, 1, H, W) per-pixel (U-Net discriminator) or (N, 1) (VGG-style). The generator's
    ``gan_weight`` is applied by the caller; the discriminator's own loss is unweighted.
    """
    target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


class PerceptualLoss(nn.Module):
    """sum_k w_k * L1(phi_k(pred), phi_k(target)) over VGG19 conv features taken before ReLU.

    The extractor is frozen; the target's features carry no gradient. ImageNet input normalisation
    is applied inside the extractor (reference: ``use_input_norm=True``, ``range_norm=False``).
    """

    def __init__(
        self,
        layer_weights: dict[str, float],
        *,
        pretrained: bool,
        weights_path: str | os.PathLike | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.layer_weights = dict(layer_weights)
        self.vgg = VGGFeatureExtractor(
            list(self.layer_weights), pretrained=pretrained, weights_path=weights_path, seed=seed
        )
        self.vgg.requires_grad_(False)
        self.vgg.eval()

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.vgg.eval()  # the extractor stays in eval mode (no dropout/BN in VGG19 features, but be explicit)
        return self

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred_feats = self.vgg(pred)
        with torch.no_grad():
            target_feats = self.vgg(target.detach())
        total = torch.zeros((), device=pred.device)  # float32 even when features are bf16 (autocast)
        for name, weight in self.layer_weights.items():
            if weight:
                total = total + weight * F.l1_loss(pred_feats[name], target_feats[name])
        return total
