"""Parameters of the degradation synthesis (``profiles.<p>.degradation``).

Values in the ``paper`` profile are those of the official x4plus configs (see
``../shared/spec/reference-behaviour.md`` §1). Ranges are [low, high] pairs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BlurConfig:
    kernel_sizes: tuple[int, ...]  # odd sizes drawn uniformly (7..21)
    kernel_types: tuple[str, ...]  # iso, aniso, generalized_iso, generalized_aniso, plateau_iso, plateau_aniso
    kernel_probs: tuple[float, ...]
    sigma: tuple[float, float]
    betag: tuple[float, float]  # generalized Gaussian shape
    betap: tuple[float, float]  # plateau shape
    sinc_prob: float


@dataclass(frozen=True)
class ResizeConfig:
    probs: tuple[float, float, float]  # up, down, keep
    range: tuple[float, float]  # scale factor range: up draws from [1, high], down from [low, 1]
    modes: tuple[str, ...]  # area, bilinear, bicubic (drawn uniformly)


@dataclass(frozen=True)
class NoiseConfig:
    gaussian_prob: float  # Gaussian with this probability, else Poisson
    gaussian_sigma: tuple[float, float]  # in 0..255 units
    poisson_scale: tuple[float, float]
    gray_prob: float


@dataclass(frozen=True)
class USMConfig:
    kernel_size: int  # 51 in the reference (radius 50 -> sigma 8.0 by OpenCV's rule)
    weight: float
    threshold: float  # in 0..255 units


@dataclass(frozen=True)
class DegradationConfig:
    gt_crop: int  # GT is padded / randomly cropped to this before degradation (400 in the reference)
    blur1: BlurConfig
    resize1: ResizeConfig
    noise1: NoiseConfig
    jpeg1: tuple[float, float]
    second_blur_prob: float
    blur2: BlurConfig
    resize2: ResizeConfig
    noise2: NoiseConfig
    jpeg2: tuple[float, float]
    final_sinc_prob: float
    usm: USMConfig
    pool_size: int  # training-pair pool (180)
    hflip: bool
