"""The yardstick every benchmark divides by: the machine's measured convolution limit.

Two limits, both measured now on this machine:

* ``conv``: the best 3x3 convolution over a few channel counts up to 256 (:data:`CONV_SHAPES`), what
  the hardware and library allow for this kind of layer at all;
* ``rrdb``: RRDBNet's own layers (:func:`rrdb_layers`): the five convolutions of a residual dense
  block (64, 96, 128, 160 input channels -> 32 growth channels, then 192 -> 64) and the 64 -> 64
  convolution, 3x3 on 64x64 maps (the LR side of a 256 px GT patch) at batch 12, weighted by how
  often the network runs each: the rate its convolutions can reach at these shapes. A
  training step at 5% of ``conv`` but 40% of ``rrdb`` is limited by the architecture's narrow layers,
  not by the implementation.

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
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

# (batch, channels, side): the RRDB growth-channel size, the trunk size and two larger ones.
CONV_SHAPES = ((8, 32, 64), (8, 64, 64), (4, 128, 64), (2, 256, 64))
# RRDBNet x4plus: 64 features, 32 growth channels, trained at batch 12 on 64x64 LR patches.
RRDB_BATCH, RRDB_SIDE, RRDB_FEAT, RRDB_GROW = 12, 64, 64, 32


def rrdb_layers(feat: int = RRDB_FEAT, grow: int = RRDB_GROW, blocks: int = 23) -> tuple[tuple[int, int, int], ...]:
    """(in, out, count) of RRDBNet's 3x3 convolutions, counted in units of one convolution on the LR
    map: the five of a residual dense block (each sees every earlier output), 3 per RRDB x ``blocks``;
    and feat -> feat, which the network runs once on the LR map (trunk), and on maps of 4x and 16x the
    area (the two x2 up-sampling convolutions and the HR convolution: 4 + 16 + 16). The 3-channel
    first and last convolutions (under 1% of the FLOPs) are left out."""
    dense = (*((feat + i * grow, grow, 3 * blocks) for i in range(4)), (feat + 4 * grow, feat, 3 * blocks))
    return (*dense, (feat, feat, 1 + 4 + 16 + 16))


@dataclass(frozen=True)
class Limits:
    conv: dict[str, float]  # dtype name -> FLOP/s (best shape and layout)
    matmul: dict[str, float]  # dtype name -> FLOP/s
    device: str
    threads: int
    load_average: float
    rrdb: dict[str, float] = field(default_factory=dict)  # dtype name -> FLOP/s at RRDBNet's layer shapes
    rrdb_shape: str = ""  # what was measured, e.g. "batch 12, 64x64 maps, 64 features, 32 growth"

    def line(self) -> str:
        g = 1e9
        text = (
            f"yardstick on {self.device} ({self.threads} threads, load {self.load_average:.1f}): 3x3 conv limit "
            f"fp32 {self.conv['fp32'] / g:.1f} GFLOP/s, bf16 {self.conv['bf16'] / g:.1f} GFLOP/s; matmul (for "
            f"reference, not the yardstick) fp32 {self.matmul['fp32'] / g:.1f}, bf16 {self.matmul['bf16'] / g:.1f}"
        )
        if self.rrdb:
            text += (
                f"; at RRDBNet's layer shapes ({self.rrdb_shape}) fp32 {self.rrdb['fp32'] / g:.1f}, "
                f"bf16 {self.rrdb['bf16'] / g:.1f} GFLOP/s"
            )
        return text

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


def conv_rate(
    device: torch.device,
    dtype: torch.dtype,
    shape: tuple[int, int, int],
    cl: bool,
    seconds: float,
    out_channels: int | None = None,
) -> float:
    """FLOP/s of a 3x3, stride-1, padding-1 convolution (n, c, side, side) -> (n, out_channels or c, side, side)."""
    n, c, side = shape
    out = out_channels or c
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, c, side, side, generator=gen).to(device, dtype)
    w = (torch.randn(out, c, 3, 3, generator=gen) * 0.05).to(device, dtype)
    if cl:
        x, w = x.contiguous(memory_format=torch.channels_last), w.contiguous(memory_format=torch.channels_last)
    flops = 2.0 * n * c * out * 9 * side * side
    with torch.no_grad():
        return _rate(lambda: F.conv2d(x, w, padding=1), flops, device, seconds)


def rrdb_rate(
    device: torch.device | str,
    dtype: torch.dtype,
    seconds: float,
    batch: int = RRDB_BATCH,
    side: int = RRDB_SIDE,
    feat: int = RRDB_FEAT,
    grow: int = RRDB_GROW,
) -> float:
    """FLOP/s of RRDBNet's convolutions at their own shapes: the network's convolution FLOPs over the
    time they take, each layer shape timed on its own and weighted by how often the network runs it
    (:func:`rrdb_layers`), in the better layout. The feat -> feat convolutions are timed on the LR map
    (their larger maps only run faster per FLOP, so this errs low)."""
    device = torch.device(device)
    layers = rrdb_layers(feat, grow)
    best = 0.0
    for cl in (False, True):
        flops = total = 0.0
        for cin, cout, count in layers:
            f = 2.0 * batch * cin * cout * 9 * side * side * count
            flops += f
            total += f / conv_rate(device, dtype, (batch, cin, side), cl, seconds / len(layers), cout)
        best = max(best, flops / total)
    return best


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int, seconds: float) -> float:
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(n, n, generator=gen).to(device, dtype)
    b = torch.randn(n, n, generator=gen).to(device, dtype)
    return _rate(lambda: a @ b, 2.0 * n**3, device, seconds)


DTYPES = (("fp32", torch.float32), ("bf16", torch.bfloat16))


def measure(
    device: torch.device | str = "cpu",
    seconds: float = 0.6,
    quick: bool = False,
    rrdb: bool = False,
    tiny: bool = False,
) -> Limits:
    """Measure the limits now (seconds per shape and layout; ``quick``: two shapes; ``rrdb``: also
    RRDBNet's layer shapes; ``tiny``: every shape shrunk so a CPU test runs this path in seconds)."""
    device = torch.device(device)
    shapes = CONV_SHAPES[1:3] if quick else CONV_SHAPES
    if tiny:
        shapes = tuple((n, c // 4, side // 8) for n, c, side in shapes)
    conv = {}
    for name, dtype in DTYPES:
        conv[name] = max(conv_rate(device, dtype, s, cl, seconds) for s in shapes for cl in (False, True))
    n = 64 if tiny else (1024 if quick or device.type == "cpu" else 8192)
    matmul = {
        "fp32": matmul_rate(device, torch.float32, n, seconds),
        "bf16": matmul_rate(device, torch.bfloat16, n, seconds),
    }
    rates: dict[str, float] = {}
    shape = ""
    if rrdb:
        batch, side, feat, grow = (2, 8, 8, 4) if tiny else (RRDB_BATCH, RRDB_SIDE, RRDB_FEAT, RRDB_GROW)
        rates = {name: rrdb_rate(device, dtype, seconds, batch, side, feat, grow) for name, dtype in DTYPES}
        shape = f"batch {batch}, {side}x{side} maps, {feat} features, {grow} growth"
    return Limits(conv, matmul, str(device), torch.get_num_threads(), os.getloadavg()[0], rates, shape)


def fraction(achieved: float, limit: float) -> float:
    """achieved / limit, not clamped: a value above 1 exposes a wrong yardstick instead of hiding it."""
    return achieved / limit


def describe_fraction(achieved: float, limit: float) -> str:
    f = fraction(achieved, limit)
    text = f"{f:.1%}"
    return text + " (ABOVE the measured limit: yardstick invalid, e.g. load changed)" if f > 1 else text


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description="Measure and print the convolution limits of this machine.")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=float, default=0.6, help="measuring time per shape and layout")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: PyTorch's choice)")
    ap.add_argument("--tiny", action="store_true", help="shrunk shapes: checks the code path in seconds")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    limits = measure(args.device, args.seconds, rrdb=True, tiny=args.tiny)
    print(limits.line())
    for name in ("fp32", "bf16"):
        share = describe_fraction(limits.rrdb[name], limits.conv[name])
        print(f"{name}: RRDBNet's layer shapes reach {share} of the 3x3 conv limit")


__all__ = [
    "Limits",
    "conv_rate",
    "describe_fraction",
    "fraction",
    "matmul_rate",
    "measure",
    "rrdb_layers",
    "rrdb_rate",
]


if __name__ == "__main__":
    main()
