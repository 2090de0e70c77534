"""Degradation throughput (training pairs per second), ours vs the official BasicSR/Real-ESRGAN code.

Settings (x4, second-order degradation, CPU unless --device):

* ``paper``: GT crop 400, batch 12, paired crop to GT 256 (the paper's training step);
* ``gt128``: GT crop 400, batch 8, paired crop to GT 128.

One "step" is what the training loop runs per iteration: synthesis from the 400 px crops, paired
crop, training-pair pool, USM of the cropped GT. Ours includes per-sample kernel sampling; the
official step (``RealESRGANModel.feed_data``) does not (its data loader workers draw the kernels in
parallel), so the ratio is conservative. Ours and official steps are INTERLEAVED batch by batch so
that a machine shared with other jobs slows both alike.

The official code is not part of this repository: benchmarks/official.py says how to install it in a
scratch folder (``--official DIR`` or ``$REPLICATION_OFFICIAL``) and which two shims it needs on current
PyTorch. Without it, only our numbers are measured: the official columns say "not measured" and no
ratio is printed (no recorded figures from other machines or other runs).

Each row also reports the synthesis' counted FLOPs (convolutions and matrix products) as a fraction of
the machine's 3x3-convolution limit measured in the same run (benchmarks/yardstick.py); FFTs, noise
sampling and element-wise work are not counted, so the fraction is small by nature.

``--compare`` adds per-component checks on identical inputs (kernels, filter2D, USM, DiffJPEG: max
abs diff) and LQ statistics of ours vs official over several batches.

``--tiny``: one setting (batch 2, GT 64, from the same 400 px crops), one timed batch, a short
yardstick, and with ``--compare`` two batches of 2: every path in seconds, for the CPU test.

Usage: python benchmarks/bench_degradation.py [--quick] [--tiny] [--official DIR] [--compare] [--threads N]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import official as official_code
import yardstick

from replication.degrade.crop import paired_random_crop, prepare_gt
from replication.degrade.pipeline import Degrader, synthesis_threads
from replication.degrade.pool import TrainingPairPool
from replication.degrade.usm import usm_sharp
from replication.imageio import list_images, read_image
from replication.params import load_params

SETTINGS = {"paper": {"batch": 12, "gt_size": 256}, "gt128": {"batch": 8, "gt_size": 128}}
TINY_SETTINGS = {"tiny": {"batch": 2, "gt_size": 64}}
GT_CROP = 400
SCALE = 4


def load_gt_crops(n: int, seed: int) -> torch.Tensor:
    """(n, 3, 400, 400) crops of the mirror's CC0 photos (smooth noise if the mirror is missing)."""
    params = load_params(ROOT / "params.yaml")
    mirror = params.mirror_dir()
    folder = None if mirror is None else mirror / "datasets" / "sample-hr-cc0"
    g = torch.Generator().manual_seed(seed)
    if folder is not None and folder.is_dir():
        images = [read_image(p).rgb[0] for p in list_images(folder)]
        return torch.stack([prepare_gt(images[i % len(images)], GT_CROP, True, g) for i in range(n)])
    print("note: mirror not found, using smooth random images")
    small = torch.rand(n, 3, 50, 50, generator=g)
    return torch.nn.functional.interpolate(small, size=(GT_CROP, GT_CROP), mode="bicubic").clamp(0, 1)


# ----------------------------------------------------------------------------------------- ours
class OurStep:
    def __init__(self, cfg, batch: int, gt_size: int, device: torch.device, seed: int) -> None:
        self.degrader = Degrader(cfg, "second_order", SCALE, device)
        self.pool = TrainingPairPool(cfg.pool_size - cfg.pool_size % batch or batch, seed)
        self.gt_size = gt_size
        self.usm = cfg.usm
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # As replication.train.synthesis.Synthesizer.gan_triplet runs it (one intra-op thread on the CPU).
        with synthesis_threads(self.degrader.device):
            out = self.degrader(gt, self.generator)
            (gt_c, _), lq_c = paired_random_crop([out.gt, out.gt_usm], out.lq, self.gt_size, SCALE, self.generator)
            lq_p, gt_p = self.pool(lq_c, gt_c)
            usm_sharp(gt_p, self.usm)
            return lq_p, gt_p


# ------------------------------------------------------------------------------------- official
def official_opt(cfg, gt_size: int) -> dict:
    """The x4plus training options, built from our params (they hold the same values)."""
    return {
        "scale": SCALE,
        "gt_size": gt_size,
        "resize_prob": list(cfg.resize1.probs),
        "resize_range": list(cfg.resize1.range),
        "gaussian_noise_prob": cfg.noise1.gaussian_prob,
        "noise_range": list(cfg.noise1.gaussian_sigma),
        "poisson_scale_range": list(cfg.noise1.poisson_scale),
        "gray_noise_prob": cfg.noise1.gray_prob,
        "jpeg_range": list(cfg.jpeg1),
        "second_blur_prob": cfg.second_blur_prob,
        "resize_prob2": list(cfg.resize2.probs),
        "resize_range2": list(cfg.resize2.range),
        "gaussian_noise_prob2": cfg.noise2.gaussian_prob,
        "noise_range2": list(cfg.noise2.gaussian_sigma),
        "poisson_scale_range2": list(cfg.noise2.poisson_scale),
        "gray_noise_prob2": cfg.noise2.gray_prob,
        "jpeg_range2": list(cfg.jpeg2),
        "l1_gt_usm": True,
        "percep_gt_usm": True,
        "gan_gt_usm": False,
    }


def official_kernels(off, cfg, batch: int) -> dict:
    """Per-sample kernels as the official dataset draws them (its __getitem__ logic, re-stated)."""
    deg = off.degradations
    sizes = list(cfg.blur1.kernel_sizes)

    def one(blur):
        k = random.choice(sizes)
        if np.random.uniform() < blur.sinc_prob:
            omega = np.random.uniform(np.pi / 3, np.pi) if k < 13 else np.random.uniform(np.pi / 5, np.pi)
            kernel = deg.circular_lowpass_kernel(omega, k, pad_to=False)
        else:
            kernel = deg.random_mixed_kernels(
                list(blur.kernel_types), list(blur.kernel_probs), k, blur.sigma, blur.sigma,
                [-math.pi, math.pi], blur.betag, blur.betap, noise_range=None,
            )  # fmt: skip
        pad = (21 - k) // 2
        return torch.FloatTensor(np.pad(kernel, ((pad, pad), (pad, pad))))

    def final():
        if np.random.uniform() < cfg.final_sinc_prob:
            k = random.choice(sizes)
            return torch.FloatTensor(deg.circular_lowpass_kernel(np.random.uniform(np.pi / 3, np.pi), k, pad_to=21))
        pulse = torch.zeros(21, 21)
        pulse[10, 10] = 1
        return pulse

    return {
        "kernel1": torch.stack([one(cfg.blur1) for _ in range(batch)]),
        "kernel2": torch.stack([one(cfg.blur2) for _ in range(batch)]),
        "sinc_kernel": torch.stack([final() for _ in range(batch)]),
    }


class OfficialStep:
    """Calls the official ``RealESRGANModel.feed_data`` on a stand-in object (no networks needed)."""

    def __init__(self, off, cfg, batch: int, gt_size: int, seed: int) -> None:
        self.off = off
        self.cfg = cfg
        self.batch = batch
        pool = TrainingPairPool(cfg.pool_size - cfg.pool_size % batch or batch, seed)
        state = types.SimpleNamespace(
            opt=official_opt(cfg, gt_size), device=torch.device("cpu"), is_train=True,
            jpeger=off.DiffJPEG(differentiable=False), usm_sharpener=off.USMSharp(),
        )  # fmt: skip

        # The official pool allocates with .cuda(); on the CPU we substitute our pool (same rule).
        def dequeue_and_enqueue():
            state.lq, state.gt = pool(state.lq, state.gt)

        state._dequeue_and_enqueue = dequeue_and_enqueue
        self.state = state
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def kernels(self) -> dict:
        return official_kernels(self.off, self.cfg, self.batch)

    def __call__(self, gt: torch.Tensor, kernels: dict) -> tuple[torch.Tensor, torch.Tensor]:
        self.off.Model.feed_data(self.state, {"gt": gt, **kernels})
        return self.state.lq, self.state.gt


# ---------------------------------------------------------------------------------------- timing
def synthesis_flops(ours: OurStep, gt: torch.Tensor) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        ours(gt)
    return float(counter.get_total_flops())


def time_settings(args, cfg, off, limits: yardstick.Limits) -> None:
    device = torch.device(args.device)
    n_batches = 1 if args.tiny else 2 if args.quick else args.batches
    print(f"\n# throughput: x{SCALE}, GT crop {GT_CROP}, second_order, device {device}, "
          f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f} (machine shared)")  # fmt: skip
    header = f"{'setting':8} {'batch':>5} {'gt':>4} {'ours s/batch':>13} {'ours pairs/s':>13} "
    header += f"{'official s/batch':>17} {'official pairs/s':>17} {'speed-up':>9} {'of conv limit':>14}"
    print(header)
    for name, s in (TINY_SETTINGS if args.tiny else SETTINGS).items():
        gts = load_gt_crops(s["batch"] * (n_batches + 1), seed=1)
        ours = OurStep(cfg, s["batch"], s["gt_size"], device, seed=0)
        official = OfficialStep(off, cfg, s["batch"], s["gt_size"], seed=0) if off else None
        t_ours, t_off, t_kern = [], [], []
        for i in range(n_batches + 1):  # the first batch warms up and is not timed
            gt = gts[i * s["batch"] : (i + 1) * s["batch"]]
            start = time.perf_counter()
            ours(gt.to(device))
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i:
                t_ours.append(time.perf_counter() - start)
            if official is not None:
                start = time.perf_counter()
                kernels = official.kernels()
                mid = time.perf_counter()
                official(gt, kernels)
                if i:
                    t_kern.append(mid - start)
                    t_off.append(time.perf_counter() - mid)
        ours_s = float(np.median(t_ours))
        flops = synthesis_flops(ours, gts[: s["batch"]].to(device))
        frac = yardstick.describe_fraction(flops / ours_s, limits.limit("fp32"))
        row = f"{name:8} {s['batch']:>5} {s['gt_size']:>4} {ours_s:>13.3f} {s['batch'] / ours_s:>13.2f} "
        if official is not None:
            off_s = float(np.median(t_off))
            row += f"{off_s:>17.3f} {s['batch'] / off_s:>17.2f} {off_s / ours_s:>8.1f}x {frac:>14}"
            row += f"   (official kernel sampling, not in its step: {np.median(t_kern):.3f} s/batch)"
        else:
            row += f"{'not measured':>17} {'not measured':>17} {'-':>9} {frac:>14}"
        print(row)


# -------------------------------------------------------------------------------------- compare
def compare_components(off) -> None:
    from replication.degrade.filters import filter2d
    from replication.degrade.jpeg import diff_jpeg
    from replication.degrade.kernels import gaussian_family_kernels, sinc_kernels
    from replication.params import load_params as _lp

    cfg = _lp(ROOT / "params.yaml", profile="paper").active.degradation
    deg = off.degradations
    print("\n# per-component max |ours - official| on identical inputs")
    k = 15
    rows = []
    for fam, name in ((0, "Gaussian (aniso)"), (1, "generalized Gaussian"), (2, "plateau")):
        sx, sy, th, beta = 2.3, 0.8, 0.7, 1.7
        if fam == 0:
            ref = deg.bivariate_Gaussian(k, sx, sy, th, isotropic=False)
        elif fam == 1:
            ref = deg.bivariate_generalized_Gaussian(k, sx, sy, th, beta, isotropic=False)
        else:
            ref = deg.bivariate_plateau(k, sx, sy, th, beta, isotropic=False)

        def t(v: float) -> torch.Tensor:
            return torch.tensor([v], dtype=torch.float64)

        ours = gaussian_family_kernels(torch.tensor([fam]), t(sx), t(sy), t(th), t(beta), torch.tensor([k]), k)[0]
        rows.append((f"kernel: {name}", float(np.abs(ours.numpy() - ref).max())))
    ref = deg.circular_lowpass_kernel(1.3, 13, pad_to=21)
    ours = sinc_kernels(torch.tensor([1.3], dtype=torch.float64), torch.tensor([13]), 21)[0].numpy()
    rows.append(("kernel: sinc 13 -> 21", float(np.abs(ours - ref).max())))
    g = torch.Generator().manual_seed(0)
    img = torch.nn.functional.interpolate(torch.rand(4, 3, 40, 40, generator=g), size=(160, 160), mode="bicubic")
    img = img.clamp(0, 1)
    kernels = torch.rand(4, 21, 21, generator=g)
    kernels = kernels / kernels.sum(dim=(1, 2), keepdim=True)
    rows.append(("filter2D per-sample 21x21", (filter2d(img, kernels) - off.filter2D(img, kernels)).abs()))
    # USM thresholds |img - blur| at 10/255: float-rounding differences of the blur flip a few mask
    # pixels, which moves the soft mask by ~1e-4 around them.
    rows.append(("USM (51x51, sigma 8)", (usm_sharp(img, cfg.usm) - off.USMSharp()(img)).abs()))
    with torch.no_grad():
        q = torch.tensor([30.0, 47.3, 71.9, 95.0])
        ref = off.DiffJPEG(differentiable=False)(img, quality=q.clone())
    rows.append(("DiffJPEG q in [30, 95]", (diff_jpeg(img, q) - ref).abs()))
    print(f"{'component':32} {'max':>9} {'mean':>9} {'share > 1e-4':>13}")
    for name, value in rows:
        if isinstance(value, torch.Tensor):
            share = float((value > 1e-4).double().mean())
            print(f"{name:32} {float(value.max()):9.2e} {float(value.mean()):9.2e} {share:13.2e}")
        else:
            print(f"{name:32} {value:9.2e}")

    # Noise: same image and level, compare the noise standard deviation (random fields differ).
    from replication.degrade.noise import gaussian_noise, poisson_noise

    flat = torch.full((4, 3, 128, 128), 0.5)
    flat.view(4, -1)[:, :256] = torch.arange(256) / 255.0
    torch.manual_seed(0)
    gray = torch.tensor([0.0, 1.0, 0.0, 1.0])
    ref_g = deg.generate_gaussian_noise_pt(flat, sigma=torch.full((4, 1, 1, 1), 12.0), gray_noise=gray.view(4, 1, 1, 1))
    ours_g = gaussian_noise(flat, torch.full((4,), 12.0), gray.bool(), g) - flat
    ref_p = deg.generate_poisson_noise_pt(flat, scale=torch.full((4, 1, 1, 1), 2.0), gray_noise=gray.view(4, 1, 1, 1))
    ours_p = poisson_noise(flat, torch.full((4,), 2.0), gray.bool(), g) - flat
    print("noise std per sample (colour, gray, colour, gray):")
    print("  Gaussian sigma 12  official", [round(float(v), 5) for v in ref_g.std(dim=(1, 2, 3))],
          " ours", [round(float(v), 5) for v in ours_g.std(dim=(1, 2, 3))])  # fmt: skip
    print("  Poisson scale 2    official", [round(float(v), 5) for v in ref_p.std(dim=(1, 2, 3))],
          " ours", [round(float(v), 5) for v in ours_p.std(dim=(1, 2, 3))])  # fmt: skip


def lq_statistics(lq: torch.Tensor, gt: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample statistics of LQ patches (B, 3, h, w) against their GT (B, 3, 4h, 4w)."""
    ref = torch.nn.functional.avg_pool2d(gt, SCALE)
    lap = torch.tensor([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], dtype=lq.dtype).view(1, 1, 3, 3).expand(3, 1, 3, 3)
    hf = torch.nn.functional.conv2d(lq, lap, groups=3).abs().mean(dim=(1, 2, 3))
    return {
        "mean": lq.mean(dim=(1, 2, 3)),
        "std": lq.std(dim=(1, 2, 3)),
        "|lap| (detail/noise)": hf,
        "|lq - avgpool(gt)|": (lq - ref).abs().mean(dim=(1, 2, 3)),
        "clipped fraction": ((lq <= 0) | (lq >= 1)).float().mean(dim=(1, 2, 3)),
    }


def compare_distributions(args, cfg, off) -> None:
    n_batches = 2 if args.tiny else 3 if args.quick else args.compare_batches
    batch, gt_size = (2, 64) if args.tiny else (12, 256)
    gts = load_gt_crops(batch * n_batches, seed=2)
    ours = OurStep(cfg, batch, gt_size, torch.device("cpu"), seed=1)
    official = OfficialStep(off, cfg, batch, gt_size, seed=1)
    stats_ours: dict[str, list] = {}
    stats_off: dict[str, list] = {}
    for i in range(n_batches):
        gt = gts[i * batch : (i + 1) * batch]
        # Bypass the pools: compare what each synthesis produces from the same GT crops.
        ours.pool.size = 0
        official.state._dequeue_and_enqueue = lambda: None
        lq_o, gt_o = ours(gt)
        lq_r, gt_r = official(gt, official.kernels())
        for key, v in lq_statistics(lq_o, gt_o).items():
            stats_ours.setdefault(key, []).append(v)
        for key, v in lq_statistics(lq_r, gt_r).items():
            stats_off.setdefault(key, []).append(v)
    n = batch * n_batches
    print(f"\n# LQ statistics over {n} pairs ({n_batches} batches of {batch}, same GT crops), mean +- std error")
    print(f"{'statistic':24} {'ours':>20} {'official':>20}")

    def fmt(v: torch.Tensor) -> str:
        return f"{float(v.mean()):.4f} +- {float(v.std() / math.sqrt(len(v))):.4f}"

    for key, ours_values in stats_ours.items():
        print(f"{key:24} {fmt(torch.cat(ours_values)):>20} {fmt(torch.cat(stats_off[key])):>20}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 timed batches per setting")
    parser.add_argument("--tiny", action="store_true", help="batch 2, GT 64, 1 timed batch: the CPU test")
    parser.add_argument("--batches", type=int, default=5, help="timed batches per setting (median reported)")
    parser.add_argument(
        "--official", type=Path, default=None, help=f"official code folder (default: ${official_code.ENV})"
    )
    parser.add_argument("--compare", action="store_true", help="component + distribution comparison (needs --official)")
    parser.add_argument("--compare-batches", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_params(ROOT / "params.yaml", profile="paper").active.degradation
    off, why = official_code.load(args.official)
    print(f"official code: {off.version} (measured side by side)" if off else f"official code: not measured: {why}")
    if args.compare and off is None:
        parser.error("--compare needs the official code (--official DIR)")
    secs = 0.05 if args.tiny else 0.6
    limits = yardstick.measure(args.device, secs, quick=args.quick, tiny=args.tiny)
    print(limits.line())
    time_settings(args, cfg, off, limits)
    after = yardstick.measure(args.device, secs, quick=True, tiny=args.tiny)
    print(f"after the runs: {after.line()} (rows used the limit measured before them)")
    if args.compare:
        compare_components(off)
        compare_distributions(args, cfg, off)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
