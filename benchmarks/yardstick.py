"""The yardstick every benchmark divides by: the machine's measured convolution limit.

A large 3x3 convolution through the library the workload itself uses (oneDNN on the CPU, cuDNN on a
GPU), in fp32 and in bf16, NCHW and channels-last, over a few channel counts; the best rate of each
dtype is its limit. ``torch.matmul`` is measured too and printed beside it, but it is not the
yardstick: on AMD CPUs MKL's sgemm does not use AVX-512 while oneDNN's convolutions do, so a matmul
"peak" sat below what our convolutions reach (fractions of 149% to 364% were printed before).

A fraction above 100% means the yardstick is wrong (or the machine's load changed between the two
measurements), never that the workload beat the hardware: :func:`fraction` does not clamp, and
:func:`describe_fraction` says so next to the number.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# (batch, channels, side): the RRDB growth-channel size, the trunk size and two larger ones.
CONV_SHAPES = ((8, 32, 64), (8, 64, 64), (4, 128, 64), (2, 256, 64))


@dataclass(frozen=True)
class Limits:
    conv: dict[str, float]  # dtype name -> FLOP/s (best shape and layout)
    matmul: dict[str, float]  # dtype name -> FLOP/s
    device: str
    threads: int
    load_average: float

    def line(self) -> str:
        g = 1e9
        return (
            f"yardstick on {self.device} ({self.threads} threads, load {self.load_average:.1f}): 3x3 conv limit "
            f"fp32 {self.conv['fp32'] / g:.1f} GFLOP/s, bf16 {self.conv['bf16'] / g:.1f} GFLOP/s; matmul (for "
            f"reference, not the yardstick) fp32 {self.matmul['fp32'] / g:.1f}, bf16 {self.matmul['bf16'] / g:.1f}"
        )

    def limit(self, dtype: str) -> float:
        return self.conv[dtype]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(fn, flops: float, device: torch.device, seconds: float) -> float:
    """Best of 3 rounds of repeated calls (each about seconds / 3): FLOP/s."""
    fn()
    _sync(device)
    best = 0.0
    for _ in range(3):
        reps, t0 = 0, time.perf_counter()
        while True:
            fn()
            reps += 1
            _sync(device)
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds / 3:
                break
        best = max(best, flops * reps / elapsed)
    return best


def conv_rate(device: torch.device, dtype: torch.dtype, shape: tuple[int, int, int], cl: bool, seconds: float) -> float:
    n, c, side = shape
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, c, side, side, generator=gen).to(device, dtype)
    w = (torch.randn(c, c, 3, 3, generator=gen) * 0.05).to(device, dtype)
    if cl:
        x, w = x.contiguous(memory_format=torch.channels_last), w.contiguous(memory_format=torch.channels_last)
    flops = 2.0 * n * c * c * 9 * side * side
    with torch.no_grad():
        return _rate(lambda: F.conv2d(x, w, padding=1), flops, device, seconds)


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int, seconds: float) -> float:
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(n, n, generator=gen).to(device, dtype)
    b = torch.randn(n, n, generator=gen).to(device, dtype)
    return _rate(lambda: a @ b, 2.0 * n**3, device, seconds)


def measure(device: torch.device | str = "cpu", seconds: float = 0.6, quick: bool = False) -> Limits:
    """Measure the limits now (seconds per shape and layout; ``quick``: two shapes)."""
    device = torch.device(device)
    shapes = CONV_SHAPES[1:3] if quick else CONV_SHAPES
    conv = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        conv[name] = max(conv_rate(device, dtype, s, cl, seconds) for s in shapes for cl in (False, True))
    n = 1024 if quick or device.type == "cpu" else 8192
    matmul = {
        "fp32": matmul_rate(device, torch.float32, n, seconds),
        "bf16": matmul_rate(device, torch.bfloat16, n, seconds),
    }
    return Limits(conv, matmul, str(device), torch.get_num_threads(), os.getloadavg()[0])


def fraction(achieved: float, limit: float) -> float:
    """achieved / limit, not clamped: a value above 1 exposes a wrong yardstick instead of hiding it."""
    return achieved / limit


def describe_fraction(achieved: float, limit: float) -> str:
    f = fraction(achieved, limit)
    text = f"{f:.1%}"
    return text + " (ABOVE the measured limit: yardstick invalid, e.g. load changed)" if f > 1 else text


__all__ = ["Limits", "conv_rate", "describe_fraction", "fraction", "matmul_rate", "measure"]
