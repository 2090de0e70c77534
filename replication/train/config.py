"""Training parameters (``profiles.<p>.train_net`` / ``train_gan``) and ablation variants (``variants``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class PhaseConfig:
    iters: int
    batch_size: int  # per process
    gt_size: int  # GT patch size (LQ patch = gt_size / scale)
    lr: float
    betas: tuple[float, float]
    ema_decay: float
    lr_milestones: tuple[int, ...]
    lr_gamma: float
    ckpt_every: int
    keep_checkpoints: int
    log_every: int
    sample_every: int
    # GAN phase only (ignored by the Real-ESRNet phase)
    l1_weight: float
    perceptual_weight: float
    perceptual_layers: dict[str, float]  # VGG19 layer (before ReLU) -> weight
    gan_weight: float
    vgg_weights: Literal["imagenet", "untrained"]  # "untrained" is a declared deviation (smoke)


@dataclass(frozen=True)
class VariantConfig:
    description: str
    degradation: Literal["second_order", "first_order", "no_sinc", "bicubic", "bsrgan"]
    discriminator: Literal["unet", "vgg"]
    spectral_norm: bool
