"""BSRGAN's degradation model (Zhang, Liang, Van Gool, Timofte, ICCV 2021), batched.

Written from the paper's description (§3 "A practical degradation model") and our reading of the
structure of its public ``degradation_bsrgan`` function; no code was copied. Ranges are the
``bsrgan`` sub-section of params.yaml; the paper's x4 values are:

* two blur steps; each is, per sample, anisotropic Gaussian with probability ``aniso_prob``
  (covariance eigenvalues ~ U(0.5, 8) px^2, rotation ~ U(0, pi)) or isotropic (sigma ~ U(0.1, 2.8));
  kernel size uniform over the odd sizes 7..21; reflect (mirror) borders;
* intermediate down-sampling: with ``down1_resize_prob`` (0.75) resize by 1/s1, s1 ~ U(1, 2*scale),
  mode from {bilinear, bicubic, area}; else Gaussian blur sigma ~ U(0.1, 0.6*scale) whose centre is
  shifted by (scale - 1)/2 px followed by nearest (every scale-th pixel) down-sampling, so each LR pixel
  is centred on the block it represents;
* down-sampling to the LR size, mode from {bilinear, bicubic, area} (always after the intermediate one);
* Gaussian noise, sigma ~ U(2, 25)/255 per sample: channel-independent (p 0.4), gray (p 0.4), or
  cross-channel correlated (p 0.2) with covariance sigma^2 U^T D U (U random orthogonal, D ~ U(0, 1)^3);
* JPEG with probability ``jpeg_prob`` (0.9), quality ~ U(30, 95) per sample;
* the six steps above in a random order, then always a final JPEG, then 8-bit rounding.

Simplifications (documented in docs/degradation.md): the order, the intermediate down-sampling
branch/factor/mode and the LR resize mode are one draw per batch (shapes must agree within a batch;
the training-pair pool mixes batches); camera-ISP noise and the random x2 pre-down-sampling of the
x4 model are left out; JPEG is our DiffJPEG with a continuous quality instead of libjpeg with an
integer quality; noise levels are continuous rather than integers.
"""

from __future__ import annotations

import math

import torch

from replication.degrade import draws
from replication.degrade.config import BSRGANConfig
from replication.degrade.filters import filter2d
from replication.degrade.kernels import gaussian_family_kernels
from replication.degrade.resize import interpolate
from replication.degrade.second_order import jpeg_random_quality
from replication.imageio import quantize_8bit

STEPS = ("blur", "blur", "down1", "down2", "noise", "jpeg")


def shuffled_order(generator: torch.Generator) -> list[str]:
    """A random permutation of :data:`STEPS` with ``down1`` moved before ``down2`` if needed."""
    order = [STEPS[i] for i in torch.randperm(len(STEPS), generator=generator).tolist()]
    i1, i2 = order.index("down1"), order.index("down2")
    if i1 > i2:
        order[i1], order[i2] = order[i2], order[i1]
    return order


def sample_blur(cfg: BSRGANConfig, batch: int, generator: torch.Generator) -> torch.Tensor:
    """(B, P, P) Gaussian kernels, P = max(kernel_sizes): anisotropic or isotropic per sample."""
    pad_to = max(cfg.kernel_sizes)
    size = draws.choice_tensor(cfg.kernel_sizes, batch, generator)
    aniso = draws.bernoulli(cfg.aniso_prob, batch, generator)
    l1 = draws.uniform(*cfg.aniso_eigenvalues, batch, generator).double()
    l2 = draws.uniform(*cfg.aniso_eigenvalues, batch, generator).double()
    theta = draws.uniform(*cfg.aniso_rotation, batch, generator).double() * math.pi
    sigma = draws.uniform(*cfg.iso_sigma, batch, generator).double()
    sigma_x = torch.where(aniso, l1.sqrt(), sigma)
    sigma_y = torch.where(aniso, l2.sqrt(), sigma)
    theta = torch.where(aniso, theta, torch.zeros_like(theta))
    family = torch.zeros(batch, dtype=torch.int64)
    kernels = gaussian_family_kernels(family, sigma_x, sigma_y, theta, torch.ones(batch), size, pad_to)
    return kernels.float()


def shifted_gaussian_kernels(sigma: torch.Tensor, size: int, shift: float) -> torch.Tensor:
    """(B,) sigmas -> (B, size, size) isotropic Gaussians centred at (+shift, +shift) px."""
    t = torch.arange(size, dtype=torch.float64) - size // 2 - shift
    g = torch.exp(-(t[None] ** 2) / (2 * sigma.double()[:, None] ** 2))  # (B, size)
    k = g[:, :, None] * g[:, None, :]
    return (k / k.sum(dim=(-2, -1), keepdim=True)).float()


def _correlated_noise_mixers(batch: int, generator: torch.Generator) -> torch.Tensor:
    """(B, 3, 3) matrices L with L L^T = U^T D U (U random orthogonal, D ~ U(0, 1)^3)."""
    q, _ = torch.linalg.qr(torch.rand(batch, 3, 3, generator=generator, dtype=torch.float64))
    d = torch.rand(batch, 3, generator=generator, dtype=torch.float64)
    return (q.transpose(1, 2) * d.sqrt()[:, None, :]).float()


def add_noise(img: torch.Tensor, cfg: BSRGANConfig, generator: torch.Generator, field_generator: torch.Generator):
    """Per-sample Gaussian noise of one of three kinds: (B, 3, H, W) -> clamped (B, 3, H, W), record."""
    b = img.shape[0]
    sigma = draws.uniform(*cfg.noise_sigma, b, generator) / 255.0
    kind = draws.categorical(
        (cfg.noise_color_prob, cfg.noise_gray_prob, max(0.0, 1.0 - cfg.noise_color_prob - cfg.noise_gray_prob)),
        b,
        generator,
    )
    # One standard normal field z per sample; each kind is a 3x3 mix of it: colour sigma*I, gray
    # sigma * (copy channel 0 to all), correlated sigma * L.
    eye = torch.eye(3).expand(b, 3, 3)
    gray = torch.zeros(b, 3, 3)
    gray[:, :, 0] = 1.0
    mixers = torch.where(
        (kind == 0).view(-1, 1, 1),
        eye,
        torch.where((kind == 1).view(-1, 1, 1), gray, _correlated_noise_mixers(b, generator)),
    )
    mixers = (mixers * sigma.view(-1, 1, 1)).to(img.device, img.dtype)
    z = torch.randn(img.shape, generator=field_generator, device=img.device, dtype=img.dtype)
    noise = torch.einsum("bkc,bchw->bkhw", mixers, z)
    return (img + noise).clamp_(0, 1), {"sigma": sigma * 255.0, "kind": kind}


def bsrgan(
    gt_usm: torch.Tensor,
    cfg: BSRGANConfig,
    scale: int,
    generator: torch.Generator,
    field_generator: torch.Generator,
) -> tuple[torch.Tensor, dict]:
    """(B, 3, H, W) sharpened GT -> ((B, 3, H/scale, W/scale) 8-bit LQ, record of the draws)."""
    b, _, h, w = gt_usm.shape
    lr_size = (h // scale, w // scale)
    order = shuffled_order(generator)
    record: dict = {"order": order, "blur_kernels": []}
    out = gt_usm
    for step in order:
        if step == "blur":
            kernels = sample_blur(cfg, b, generator)
            record["blur_kernels"].append(kernels)
            out = filter2d(out, kernels.to(out.device))
        elif step == "down1":
            if draws.coin(cfg.down1_resize_prob, generator):
                factor = draws.uniform_float(1.0, cfg.down1_factor_per_scale * scale, generator)
                mode = draws.choice(cfg.down1_modes, generator)
                size = (max(1, int(out.shape[-2] / factor)), max(1, int(out.shape[-1] / factor)))
                out = interpolate(out, mode, size=size).clamp(0, 1)
                record["down1"] = {"branch": "resize", "factor": factor, "mode": mode}
            else:
                low, high = cfg.down1_blur_sigma_per_scale
                sigma = draws.uniform(low, high * scale, b, generator)
                k = shifted_gaussian_kernels(sigma, cfg.down1_blur_kernel_size, (scale - 1) / 2)
                out = filter2d(out, k.to(out.device))[..., ::scale, ::scale].clamp(0, 1)
                record["down1"] = {"branch": "blur_nearest", "sigma": sigma}
        elif step == "down2":
            mode = draws.choice(cfg.down2_modes, generator)
            out = interpolate(out, mode, size=lr_size).clamp(0, 1)
            record["down2_mode"] = mode
        elif step == "noise":
            out, record["noise"] = add_noise(out, cfg, generator, field_generator)
        elif step == "jpeg":
            apply = draws.bernoulli(cfg.jpeg_prob, b, generator).to(out.device)
            compressed, quality = jpeg_random_quality(out, cfg.jpeg, generator)
            out = torch.where(apply.view(-1, 1, 1, 1), compressed, out)
            record["jpeg"] = {"applied": apply.cpu(), "quality": quality}
    out, record["final_jpeg"] = jpeg_random_quality(out, cfg.jpeg, generator)
    return quantize_8bit(out), record
