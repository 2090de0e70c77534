"""Blur and sinc kernels, sampled per image and zero-padded to one size so a batch stacks.

All kernels are evaluated on a ``pad_to`` x ``pad_to`` grid of pixel offsets (-t..t, t = pad_to // 2)
and set to zero outside the image's own ``size`` x ``size`` window. That equals building the
``size`` x ``size`` kernel and zero-padding it symmetrically, as the reference does. Every kernel
sums to 1. Values are computed in float64 and returned as float32.

Covariance of the Gaussian family: Sigma = R(theta) diag(sx^2, sy^2) R(theta)^T; with the grid offset
c = (x, y) (x: column, y: row) and Q = c^T Sigma^-1 c the families are

* Gaussian: exp(-Q / 2)
* generalized Gaussian: exp(-Q^beta / 2)
* plateau: 1 / (Q^beta + 1)

and the 2-D sinc (circular low-pass) is omega J1(omega r) / (2 pi r), with omega^2 / (4 pi) at r = 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy import special

from replication.degrade import draws
from replication.degrade.config import BlurConfig

SINC = -1  # ``KernelBatch.kind`` of a sinc kernel (other kinds index ``BlurConfig.kernel_types``)
PULSE = -2  # ``KernelBatch.kind`` of the identity kernel (final step without sinc)

# Probability that a generalized / plateau shape beta is drawn from [low, 1) rather than [1, high):
# the reference's rule, a structural constant of the two families rather than an experiment knob.
_BETA_BELOW_ONE_PROB = 0.5


@dataclass(frozen=True)
class KernelBatch:
    """Per-sample kernels and the draws that made them (for logging and statistical tests).

    ``kernels``: (B, P, P) float32, each sums to 1. ``kind``: (B,) int64 index into the config's
    ``kernel_types``, or SINC / PULSE. ``size``: (B,) odd int64. ``sigma``: (B, 2) float64 (x, y).
    ``theta``, ``beta``, ``omega``: (B,) float64; NaN where the kernel's kind does not use them.
    """

    kernels: torch.Tensor
    kind: torch.Tensor
    size: torch.Tensor
    sigma: torch.Tensor
    theta: torch.Tensor
    beta: torch.Tensor
    omega: torch.Tensor


def _grid(pad_to: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(P, P) float64 column offsets x and row offsets y, centred on the middle pixel."""
    if pad_to % 2 == 0:
        raise ValueError(f"kernel grid size must be odd, got {pad_to}")
    t = torch.arange(pad_to, dtype=torch.float64) - pad_to // 2
    y, x = torch.meshgrid(t, t, indexing="ij")
    return x, y


def _window(size: torch.Tensor, pad_to: int) -> torch.Tensor:
    """(B, P, P) bool: the central ``size`` x ``size`` window of each grid."""
    x, y = _grid(pad_to)
    half = (size.to(torch.float64) // 2).view(-1, 1, 1)
    return (x.abs() <= half) & (y.abs() <= half)


def _normalise(values: torch.Tensor, size: torch.Tensor, pad_to: int) -> torch.Tensor:
    values = torch.where(_window(size, pad_to), values, torch.zeros((), dtype=values.dtype))
    return values / values.sum(dim=(-2, -1), keepdim=True)


def quadratic_form(sigma_x: torch.Tensor, sigma_y: torch.Tensor, theta: torch.Tensor, pad_to: int) -> torch.Tensor:
    """Q = c^T Sigma^-1 c on the grid: (B,) parameters -> (B, P, P) float64."""
    x, y = _grid(pad_to)
    cos = torch.cos(theta).view(-1, 1, 1)
    sin = torch.sin(theta).view(-1, 1, 1)
    # Coordinates in the kernel's principal axes: R^T c.
    u = cos * x + sin * y
    v = -sin * x + cos * y
    return (u / sigma_x.view(-1, 1, 1)) ** 2 + (v / sigma_y.view(-1, 1, 1)) ** 2


def gaussian_family_kernels(
    family: torch.Tensor,
    sigma_x: torch.Tensor,
    sigma_y: torch.Tensor,
    theta: torch.Tensor,
    beta: torch.Tensor,
    size: torch.Tensor,
    pad_to: int,
) -> torch.Tensor:
    """(B,) parameters -> (B, P, P) float64 normalised kernels.

    ``family``: 0 Gaussian, 1 generalized Gaussian, 2 plateau (beta is ignored for 0).
    """
    q = quadratic_form(sigma_x.double(), sigma_y.double(), theta.double(), pad_to)
    b = beta.double().view(-1, 1, 1)
    fam = family.view(-1, 1, 1)
    gauss = torch.exp(-0.5 * q)
    generalized = torch.exp(-0.5 * q.pow(b))
    plateau = 1.0 / (q.pow(b) + 1.0)
    values = torch.where(fam == 0, gauss, torch.where(fam == 1, generalized, plateau))
    return _normalise(values, size, pad_to)


def sinc_kernels(omega: torch.Tensor, size: torch.Tensor, pad_to: int) -> torch.Tensor:
    """2-D circular low-pass (sinc) kernels: (B,) cut-offs in rad/px -> (B, P, P) float64."""
    x, y = _grid(pad_to)
    r = torch.sqrt(x**2 + y**2)
    w = omega.double().view(-1, 1, 1)
    safe_r = torch.where(r == 0, torch.ones_like(r), r)
    # scipy's J1 (as the reference uses): torch's bessel_j1 is off by up to ~5e-7.
    j1 = torch.from_numpy(special.j1((w * safe_r).numpy()))
    values = w * j1 / (2 * math.pi * safe_r)
    values = torch.where(r == 0, w**2 / (4 * math.pi), values)
    return _normalise(values, size, pad_to)


def pulse_kernels(batch: int, pad_to: int) -> torch.Tensor:
    """(B, P, P) identity kernels (a single 1 in the centre)."""
    k = torch.zeros(batch, pad_to, pad_to, dtype=torch.float64)
    k[:, pad_to // 2, pad_to // 2] = 1.0
    return k


_FAMILY = {"iso": 0, "aniso": 0, "generalized_iso": 1, "generalized_aniso": 1, "plateau_iso": 2, "plateau_aniso": 2}


def _draw_beta(rng: tuple[float, float], n: int, generator: torch.Generator) -> torch.Tensor:
    below = draws.bernoulli(_BETA_BELOW_ONE_PROB, n, generator)
    low_part = draws.uniform(rng[0], 1.0, n, generator).double()
    high_part = draws.uniform(1.0, rng[1], n, generator).double()
    return torch.where(below, low_part, high_part)


def sample_blur_kernels(cfg: BlurConfig, batch: int, generator: torch.Generator, pad_to: int) -> KernelBatch:
    """One blur kernel per image (stage 1 or 2): sinc with ``cfg.sinc_prob``, else a Gaussian-family
    kernel of a type drawn with ``cfg.kernel_probs``. Returns (B, P, P) kernels, P = ``pad_to``."""
    if max(cfg.kernel_sizes) > pad_to:
        raise ValueError(f"kernel size {max(cfg.kernel_sizes)} exceeds the padded size {pad_to}")
    n = batch
    size = draws.choice_tensor(cfg.kernel_sizes, n, generator)
    is_sinc = draws.bernoulli(cfg.sinc_prob, n, generator)
    small = size < cfg.sinc_small_below
    omega_small = draws.uniform(*cfg.sinc_cutoff_small, n, generator).double() * math.pi
    omega_large = draws.uniform(*cfg.sinc_cutoff_large, n, generator).double() * math.pi
    omega = torch.where(small, omega_small, omega_large)

    kind = draws.categorical(cfg.kernel_probs, n, generator)
    names = [cfg.kernel_types[i] for i in kind.tolist()]
    family = torch.tensor([_FAMILY[name] for name in names], dtype=torch.int64)
    isotropic = torch.tensor([name.endswith("_iso") or name == "iso" for name in names], dtype=torch.bool)
    sigma_x = draws.uniform(*cfg.sigma, n, generator).double()
    sigma_y = draws.uniform(*cfg.sigma, n, generator).double()
    theta = draws.uniform(*cfg.rotation, n, generator).double() * math.pi
    beta_g = _draw_beta(cfg.betag, n, generator)
    beta_p = _draw_beta(cfg.betap, n, generator)
    sigma_y = torch.where(isotropic, sigma_x, sigma_y)
    theta = torch.where(isotropic, torch.zeros_like(theta), theta)
    beta = torch.where(family == 1, beta_g, torch.where(family == 2, beta_p, torch.full_like(beta_g, math.nan)))

    blur = gaussian_family_kernels(family, sigma_x, sigma_y, theta, torch.nan_to_num(beta, nan=1.0), size, pad_to)
    kernels = torch.where(is_sinc.view(-1, 1, 1), sinc_kernels(omega, size, pad_to), blur)
    nan = torch.full((n,), math.nan, dtype=torch.float64)
    return KernelBatch(
        kernels=kernels.float(),
        kind=torch.where(is_sinc, torch.full_like(kind, SINC), kind),
        size=size,
        sigma=torch.where(is_sinc.view(-1, 1), nan.view(-1, 1), torch.stack([sigma_x, sigma_y], 1)),
        theta=torch.where(is_sinc, nan, theta),
        beta=torch.where(is_sinc, nan, beta),
        omega=torch.where(is_sinc, omega, nan),
    )


def sample_final_sinc(
    prob: float,
    sizes: tuple[int, ...],
    cutoff: tuple[float, float],
    batch: int,
    generator: torch.Generator,
    pad_to: int,
) -> KernelBatch:
    """The final-step filter per image: a sinc with probability ``prob`` (size drawn from ``sizes``,
    cut-off U(cutoff) * pi regardless of the size), else the identity pulse. (B, P, P)."""
    n = batch
    size = draws.choice_tensor(sizes, n, generator)
    is_sinc = draws.bernoulli(prob, n, generator)
    omega = draws.uniform(*cutoff, n, generator).double() * math.pi
    kernels = torch.where(is_sinc.view(-1, 1, 1), sinc_kernels(omega, size, pad_to), pulse_kernels(n, pad_to))
    nan = torch.full((n,), math.nan, dtype=torch.float64)
    return KernelBatch(
        kernels=kernels.float(),
        kind=torch.where(is_sinc, torch.full((n,), SINC), torch.full((n,), PULSE)),
        size=torch.where(is_sinc, size, torch.ones_like(size)),
        sigma=torch.full((n, 2), math.nan, dtype=torch.float64),
        theta=nan,
        beta=nan,
        omega=torch.where(is_sinc, omega, nan),
    )
