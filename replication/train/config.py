"""Training parameters (``profiles.<p>.train_net`` / ``train_gan``) and ablation variants (``variants``).

The two phases share one schema so a profile reads the same for both; the Real-ESRNet phase uses
only the L1 term (its ``perceptual_*`` / ``gan_*`` keys are ignored), as in the official
``train_realesrnet_x4plus.yml``. What a variant changes (degradation, sharpened targets,
discriminator) lives in the variant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from replication.degrade.config import DegradationConfig, check_gt_size
from replication.names import DegradationVariant, Discriminator

# VGG19 convolution names (torchvision ``features`` order); the perceptual loss reads them before ReLU.
VGG19_CONV_LAYERS = (
    "conv1_1", "conv1_2",
    "conv2_1", "conv2_2",
    "conv3_1", "conv3_2", "conv3_3", "conv3_4",
    "conv4_1", "conv4_2", "conv4_3", "conv4_4",
    "conv5_1", "conv5_2", "conv5_3", "conv5_4",
)  # fmt: skip

# Keys that only say how often to log / save / stop. They do not change the training trajectory, so
# they are left out of the checkpoint fingerprint: raising ``iters`` continues a finished run.
BOOKKEEPING_FIELDS = ("iters", "ckpt_every", "keep_checkpoints", "log_every", "sample_every")


@dataclass(frozen=True)
class PhaseConfig:
    iters: int
    batch_size: int  # per process and micro-batch
    # Micro-batches per optimizer step and process (gradient accumulation): the step's total batch is
    # processes x batch_size x accumulation (the paper: 48). Pool, EMA, D/G order and lr schedule stay
    # once per optimizer step (docs/reference-notes.md §7).
    accumulation: int
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
    # GAN phase only (ignored by the Real-ESRNet phase). Which GT the L1/perceptual losses see is the
    # variant's ``sharpened_gt`` (it also decides what the LQ is made from, so it is part of the recipe).
    # gan_gt_usm: the discriminator's "real" input is that (sharpened) target, not the plain GT
    # (reference: False).
    gan_gt_usm: bool
    l1_weight: float
    perceptual_weight: float
    perceptual_layers: dict[str, float]  # VGG19 layer (before ReLU) -> weight
    gan_weight: float
    # The perceptual loss's VGG19: "imagenet" (required: the paper), "untrained" (a seeded random VGG19,
    # a declared deviation: smoke), or "imagenet_if_present" (the study: the ImageNet weights when the
    # file given to the trainer exists, else the untrained substitute; the model's metadata says which).
    vgg_weights: Literal["imagenet", "untrained", "imagenet_if_present"]
    # Arithmetic: fp32 (the paper), bf16 autocast, or bf16 only where the hardware has it natively
    # (replication.train.precision). `replication train --amp` overrides it.
    precision: Literal["fp32", "bf16", "bf16_if_native"]

    def validate(self) -> None:
        positive = (
            "iters",
            "batch_size",
            "accumulation",
            "gt_size",
            "ckpt_every",
            "keep_checkpoints",
            "log_every",
            "sample_every",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must lie in [0, 1), got {self.ema_decay}")
        if any(not 0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must lie in [0, 1), got {list(self.betas)}")
        if list(self.lr_milestones) != sorted(self.lr_milestones):
            raise ValueError(f"lr_milestones must be increasing, got {list(self.lr_milestones)}")
        unknown = sorted(set(self.perceptual_layers) - set(VGG19_CONV_LAYERS))
        if unknown:
            raise ValueError(
                f"perceptual_layers.{unknown[0]}: not a VGG19 conv layer (known: {', '.join(VGG19_CONV_LAYERS)})"
            )
        if self.perceptual_weight > 0 and not self.perceptual_layers:
            raise ValueError("perceptual_layers is empty but perceptual_weight > 0")


@dataclass(frozen=True)
class LaunchConfig:
    """How many training processes a profile's training stages start (``python -m replication.train.launch``).

    One process runs plain ``python``; more run under ``torchrun`` (one per GPU). Which node this is
    and where the nodes meet are per machine, so they come from the environment
    (``REPLICATION_NODE_RANK``, ``REPLICATION_MASTER``: replication.train.launch).
    """

    nproc_per_node: int  # processes (GPUs) per machine
    nnodes: int  # machines

    def validate(self) -> None:
        for name in ("nproc_per_node", "nnodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes


@dataclass(frozen=True)
class VariantConfig:
    description: str
    degradation: DegradationVariant
    # true: the LQ is synthesised from USM(GT) and the L1/perceptual targets are USM(GT), the recipe
    # of the released x4plus models (the paper's Real-ESRGAN+); false: the plain GT throughout.
    sharpened_gt: bool
    discriminator: Discriminator
    spectral_norm: bool

    def validate(self) -> None:
        if self.discriminator == "vgg" and self.spectral_norm:
            raise ValueError("spectral_norm: the VGG-style discriminator has no spectral-norm option (use false)")

    def check_profile(self, gan_gt_size: int) -> None:
        """Rules between this variant and a profile's ``train_gan`` section."""
        if self.discriminator == "vgg" and (gan_gt_size < 16 or gan_gt_size & (gan_gt_size - 1)):
            raise ValueError(
                "the VGG-style discriminator takes square inputs of a power-of-two size >= 16 (official: 128 or "
                f"256); train_gan.gt_size is {gan_gt_size}"
            )

    def recipe(self) -> tuple[str, bool]:
        """What the Real-ESRNet phase depends on (with the profile's generator): variants that agree
        here share one Real-ESRNet and differ only in their GAN phase."""
        return (self.degradation, self.sharpened_gt)


def check_phase(name: str, cfg: PhaseConfig, degradation: DegradationConfig, scale: int) -> None:
    """Rules between a phase section (``name``: train_net or train_gan) and the profile's degradation and
    scale: checked by the whole-file loader for every profile and by the trainer for the phase it runs."""
    check_gt_size(cfg.gt_size, degradation.gt_crop, scale, f"{name}.gt_size")
    if degradation.pool_size % cfg.batch_size:
        raise ValueError(
            f"degradation.pool_size {degradation.pool_size} must be divisible by {name}.batch_size {cfg.batch_size}"
        )


def check_seeds(seeds: tuple[int, ...]) -> None:
    """The profile's training replicates (``seeds``): every run is trained once per seed."""
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"seeds must be distinct non-negative integers (at least one), got {list(seeds)}")
