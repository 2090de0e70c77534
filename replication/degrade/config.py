"""Parameters of the degradation synthesis (``profiles.<p>.degradation``).

Values in the ``paper`` profile are those of the official x4plus configs (see
``docs/reference-notes.md`` §1-§5). Ranges are [low, high] pairs. Angles and sinc cut-off
frequencies are given in units of pi (``[0.3333333333333333, 1.0]`` means [pi/3, pi]) so that the
YAML holds exact, readable numbers.

The ``first_order`` and ``bsrgan`` sub-sections hold what only those variants read; the
``first_order`` variant otherwise reuses the stage-1 keys (``blur1``, ``resize1``, ``noise1``,
``jpeg1``) and the final-step keys. ``docs/degradation.md`` says which variant reads which key.
"""

from __future__ import annotations

from dataclasses import dataclass

KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
RESIZE_MODES = ("area", "bilinear", "bicubic")
BSRGAN_RESIZE_MODES = ("nearest", "area", "bilinear", "bicubic")


def _check_prob(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")


def _check_range(name: str, rng: tuple[float, float], low: float | None = None, high: float | None = None) -> None:
    if rng[0] > rng[1]:
        raise ValueError(f"{name} must be [low, high] with low <= high, got {list(rng)}")
    if low is not None and rng[0] < low:
        raise ValueError(f"{name} must not go below {low}, got {list(rng)}")
    if high is not None and rng[1] > high:
        raise ValueError(f"{name} must not go above {high}, got {list(rng)}")


def _check_sizes(name: str, sizes: tuple[int, ...]) -> None:
    if not sizes:
        raise ValueError(f"{name} must not be empty")
    for size in sizes:
        if size < 1 or size % 2 == 0:
            raise ValueError(f"{name} must hold odd positive kernel sizes, got {size}")


def _check_modes(name: str, modes: tuple[str, ...], allowed: tuple[str, ...] = RESIZE_MODES) -> None:
    if not modes:
        raise ValueError(f"{name} must not be empty")
    for mode in modes:
        if mode not in allowed:
            raise ValueError(f"{name}: unknown mode {mode!r} (allowed: {', '.join(allowed)})")


@dataclass(frozen=True)
class BlurConfig:
    kernel_sizes: tuple[int, ...]  # odd sizes drawn uniformly (7..21); kernels are zero-padded to the largest
    kernel_types: tuple[str, ...]  # iso, aniso, generalized_iso, generalized_aniso, plateau_iso, plateau_aniso
    kernel_probs: tuple[float, ...]
    sigma: tuple[float, float]  # Gaussian standard deviation in pixels (both axes for aniso)
    rotation: tuple[float, float]  # aniso rotation angle, in units of pi ([-1, 1] = [-pi, pi])
    betag: tuple[float, float]  # generalized Gaussian shape; half the draws below 1, half above
    betap: tuple[float, float]  # plateau shape; same rule (with [1, 2], beta is exactly 1 half the time)
    sinc_prob: float  # probability that the kernel is a 2-D sinc instead of a Gaussian-family kernel
    sinc_cutoff_small: tuple[float, float]  # sinc cut-off for sizes < sinc_small_below, units of pi
    sinc_cutoff_large: tuple[float, float]  # sinc cut-off for the other sizes, units of pi
    sinc_small_below: int  # 13 in the reference

    def validate(self) -> None:
        _check_sizes("kernel_sizes", self.kernel_sizes)
        for kind in self.kernel_types:
            if kind not in KERNEL_TYPES:
                raise ValueError(f"kernel_types: unknown type {kind!r} (allowed: {', '.join(KERNEL_TYPES)})")
        if len(self.kernel_types) != len(self.kernel_probs) or not self.kernel_types:
            raise ValueError(
                f"kernel_probs must have one entry per kernel type ({len(self.kernel_types)}), "
                f"got {len(self.kernel_probs)}"
            )
        if any(p < 0 for p in self.kernel_probs) or abs(sum(self.kernel_probs) - 1.0) > 1e-6:
            raise ValueError(f"kernel_probs must be non-negative and sum to 1, got {list(self.kernel_probs)}")
        _check_range("sigma", self.sigma, low=1e-3)
        _check_range("rotation", self.rotation)
        _check_range("betag", self.betag, low=1e-3)
        _check_range("betap", self.betap, low=1e-3)
        _check_prob("sinc_prob", self.sinc_prob)
        _check_range("sinc_cutoff_small", self.sinc_cutoff_small, low=1e-3)
        _check_range("sinc_cutoff_large", self.sinc_cutoff_large, low=1e-3)


@dataclass(frozen=True)
class ResizeConfig:
    probs: tuple[float, float, float]  # up, down, keep
    range: tuple[float, float]  # scale factor range: up draws from [1, high], down from [low, 1]
    modes: tuple[str, ...]  # area, bilinear, bicubic (drawn uniformly)

    def validate(self) -> None:
        if any(p < 0 for p in self.probs) or abs(sum(self.probs) - 1.0) > 1e-6:
            raise ValueError(f"probs must be non-negative and sum to 1, got {list(self.probs)}")
        if not 0.0 < self.range[0] <= 1.0 <= self.range[1]:
            raise ValueError(f"range must satisfy 0 < low <= 1 <= high, got {list(self.range)}")
        _check_modes("modes", self.modes)


@dataclass(frozen=True)
class NoiseConfig:
    gaussian_prob: float  # Gaussian with this probability, else Poisson (one draw per batch)
    gaussian_sigma: tuple[float, float]  # in 0..255 units
    poisson_scale: tuple[float, float]
    gray_prob: float
    # The reference draws ONE gray Gaussian noise field per batch and scales it by each sample's sigma
    # (docs/reference-notes.md §3). true reproduces that; false draws one field per sample.
    gray_field_shared: bool

    def validate(self) -> None:
        _check_prob("gaussian_prob", self.gaussian_prob)
        _check_range("gaussian_sigma", self.gaussian_sigma, low=0.0)
        _check_range("poisson_scale", self.poisson_scale, low=0.0)
        _check_prob("gray_prob", self.gray_prob)


@dataclass(frozen=True)
class USMConfig:
    kernel_size: int  # 51 in the reference (radius 50 -> sigma 8.0 by OpenCV's rule)
    weight: float
    threshold: float  # in 0..255 units

    def validate(self) -> None:
        if self.kernel_size < 3 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 3, got {self.kernel_size}")


@dataclass(frozen=True)
class FirstOrderConfig:
    """The classical variant: blur1 -> resize1 -> noise1 -> JPEG(jpeg1) -> resize to LR -> final sinc."""

    final_sinc_prob: float  # the final sinc after the resize to the LR size (sizes/cut-off: final_sinc_*)

    def validate(self) -> None:
        _check_prob("final_sinc_prob", self.final_sinc_prob)


@dataclass(frozen=True)
class BSRGANConfig:
    """A BSRGAN-like shuffled degradation (after Zhang et al., ICCV 2021; departures: docs/degradation.md)."""

    kernel_sizes: tuple[int, ...]  # Gaussian blur kernel sizes (odd)
    aniso_prob: float  # each of the two blur steps is anisotropic with this probability, else isotropic
    iso_sigma: tuple[float, float]  # isotropic Gaussian standard deviation (px)
    aniso_eigenvalues: tuple[float, float]  # anisotropic: covariance eigenvalues (px^2), "axis lengths"
    aniso_rotation: tuple[float, float]  # units of pi
    down1_resize_prob: float  # intermediate down-sampling by interpolation, else blur + shifted nearest
    down1_factor_per_scale: float  # interpolation factor ~ U(1, this * scale)
    down1_modes: tuple[str, ...]
    down1_blur_sigma_per_scale: tuple[float, float]  # blur + nearest branch: sigma ~ U(low, high * scale)
    down1_blur_kernel_size: int
    down2_modes: tuple[str, ...]  # the resize to the LR size
    noise_sigma: tuple[float, float]  # Gaussian noise level, 0..255 units
    noise_color_prob: float  # channel-independent noise
    noise_gray_prob: float  # one field for all channels; the rest is cross-channel correlated noise
    jpeg_prob: float  # the in-sequence JPEG step is applied with this probability (per sample)
    jpeg: tuple[float, float]  # quality range of both JPEG steps (the last one is always applied)

    def validate(self) -> None:
        _check_sizes("kernel_sizes", self.kernel_sizes)
        _check_prob("aniso_prob", self.aniso_prob)
        _check_range("iso_sigma", self.iso_sigma, low=1e-3)
        _check_range("aniso_eigenvalues", self.aniso_eigenvalues, low=1e-3)
        _check_range("aniso_rotation", self.aniso_rotation)
        _check_prob("down1_resize_prob", self.down1_resize_prob)
        if self.down1_factor_per_scale <= 0:
            raise ValueError(f"down1_factor_per_scale must be positive, got {self.down1_factor_per_scale}")
        _check_modes("down1_modes", self.down1_modes, BSRGAN_RESIZE_MODES)
        _check_range("down1_blur_sigma_per_scale", self.down1_blur_sigma_per_scale, low=1e-3)
        _check_sizes("down1_blur_kernel_size", (self.down1_blur_kernel_size,))
        _check_modes("down2_modes", self.down2_modes, BSRGAN_RESIZE_MODES)
        _check_range("noise_sigma", self.noise_sigma, low=0.0)
        _check_prob("noise_color_prob", self.noise_color_prob)
        _check_prob("noise_gray_prob", self.noise_gray_prob)
        if self.noise_color_prob + self.noise_gray_prob > 1.0 + 1e-9:
            raise ValueError("noise_color_prob + noise_gray_prob must not exceed 1")
        _check_prob("jpeg_prob", self.jpeg_prob)
        _check_range("jpeg", self.jpeg, low=1.0, high=99.0)


@dataclass(frozen=True)
class DegradationConfig:
    gt_crop: int  # GT is padded / randomly cropped to this before degradation (400 in the reference)
    blur1: BlurConfig
    resize1: ResizeConfig
    noise1: NoiseConfig
    jpeg1: tuple[float, float]  # quality range (continuous, as DiffJPEG takes it)
    second_blur_prob: float  # one draw per batch
    blur2: BlurConfig
    resize2: ResizeConfig  # the target size is relative to the LR size (gt / scale), not the current size
    noise2: NoiseConfig
    jpeg2: tuple[float, float]
    final_sinc_prob: float  # per sample: sinc, else the identity (the reference's 21x21 pulse)
    final_sinc_sizes: tuple[int, ...]
    final_sinc_cutoff: tuple[float, float]  # units of pi; independent of the size (unlike blur sinc)
    final_resize_first_prob: float  # order A [resize to LR + sinc] -> JPEG; else B JPEG -> [resize + sinc]
    final_resize_modes: tuple[str, ...]
    usm: USMConfig
    pool_size: int  # training-pair pool (180); 0 disables it
    hflip: bool
    first_order: FirstOrderConfig
    bsrgan: BSRGANConfig

    def validate(self) -> None:
        if self.gt_crop <= 0:
            raise ValueError(f"gt_crop must be positive, got {self.gt_crop}")
        # filter2D pads by reflection (kernel radius): the stage-2 blur sees the stage-1 output,
        # whose smallest side is floor(gt_crop * resize1.range[0]); reflection needs more pixels
        # than the padding.
        radius = max(max(self.blur1.kernel_sizes), max(self.blur2.kernel_sizes), max(self.final_sinc_sizes)) // 2
        smallest = int(self.gt_crop * self.resize1.range[0])
        if smallest <= radius:
            raise ValueError(
                f"gt_crop {self.gt_crop} is too small: stage-1 resizing by {self.resize1.range[0]} gives "
                f"{smallest} px, but blur kernels need more than {radius} px for reflection padding"
            )
        for name in ("jpeg1", "jpeg2"):
            _check_range(name, getattr(self, name), low=1.0, high=99.0)
        _check_prob("second_blur_prob", self.second_blur_prob)
        _check_prob("final_sinc_prob", self.final_sinc_prob)
        _check_sizes("final_sinc_sizes", self.final_sinc_sizes)
        _check_range("final_sinc_cutoff", self.final_sinc_cutoff, low=1e-3)
        _check_prob("final_resize_first_prob", self.final_resize_first_prob)
        _check_modes("final_resize_modes", self.final_resize_modes)
        if self.pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {self.pool_size}")


SCALES = (1, 2, 4)  # super-resolution factors the synthesis and the networks support


def check_scale(scale: int) -> None:
    if scale not in SCALES:
        raise ValueError(f"scale must be 1, 2 or 4, got {scale}")


def check_gt_size(gt_size: int, gt_crop: int, scale: int, name: str = "gt_size") -> None:
    """The one rule for a GT patch size (params loading, ``synthesize`` and the trainer all use it): the
    patch is cut from the ``gt_crop`` x ``gt_crop`` GT crop, and its LQ counterpart has whole pixels."""
    if gt_size <= 0 or gt_size > gt_crop or gt_size % scale:
        raise ValueError(
            f"{name} {gt_size} must be positive, at most degradation.gt_crop ({gt_crop}) and divisible by scale {scale}"
        )
