"""Closed sets of names, each defined once as a ``Literal`` alias (for params loading and the type checker)
with the tuple of its members (for argparse choices and loops).

``strict.from_dict`` turns a ``Literal`` field into a load-time check, so a misspelt name in
``params.yaml`` fails when the file loads, naming the key.
"""

from __future__ import annotations

from typing import Literal, get_args

# How low-quality inputs are synthesised (replication.degrade.pipeline).
DegradationVariant = Literal["second_order", "first_order", "no_sinc", "bicubic", "bsrgan"]
DEGRADATION_VARIANTS: tuple[DegradationVariant, ...] = get_args(DegradationVariant)

# Generator architectures: the rows of the architecture table (replication.archs.registry) flagged as
# generators, which checks at import that its rows and this set agree.
GeneratorArch = Literal["rrdbnet", "srvgg", "dan", "cdc"]
GENERATOR_ARCHS: tuple[GeneratorArch, ...] = get_args(GeneratorArch)

# Discriminators as params.yaml names them (variants.<v>.discriminator); the architecture table's rows
# are unet_discriminator and vgg_discriminator.
Discriminator = Literal["unet", "vgg"]
DISCRIMINATORS: tuple[Discriminator, ...] = get_args(Discriminator)

# Training phases: Real-ESRNet (L1 only), then Real-ESRGAN (L1 + perceptual + GAN), each in runs/<variant>/<phase>.
Phase = Literal["net", "gan"]
PHASES: tuple[Phase, ...] = get_args(Phase)

# Every metric the registry (replication.evaluate.registry) can compute.
MetricName = Literal[
    "niqe", "brisque", "ilniqe", "piqe", "musiq", "maniqa", "clipiqa", "topiq_nr", "nrqm", "pi", "psnr", "ssim",
    "ringing", "lpips", "noise_sigma", "edge_width",
]  # fmt: skip
METRIC_NAMES: tuple[MetricName, ...] = get_args(MetricName)

# Where a result's weights came from (the ``source`` column of the metrics table); trained variants
# are ``retrained-<profile>``, see RETRAINED_PREFIX.
# ``external``: a model the user brings (``evaluate --source external``, ``external_models`` in params.yaml).
FixedSource = Literal["official", "official-fp16-rounded", "bicubic", "external"]
EXTERNAL_SOURCE: FixedSource = "external"
FIXED_SOURCES: tuple[FixedSource, ...] = get_args(FixedSource)
RETRAINED_PREFIX = "retrained-"
