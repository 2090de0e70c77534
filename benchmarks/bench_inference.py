"""Inference speed of RRDBNet ×4 (RealESRGAN_x4plus size) on this machine, side by side.

    python benchmarks/bench_inference.py [--quick] [--tiny] [--size 128] [--repeats 3] [--threads N]
        [--tile 64] [--tile-pad 10] [--json out.json] [--official DIR]

Measures, in one run and interleaved (so background load hits every variant alike):
  * the CPU's 3x3-convolution limit through oneDNN, fp32 and bf16 (benchmarks/yardstick.py; the
    matmul figure is printed beside it, for reference) before and after the runs, the better kept;
  * fp32 whole-image inference: GFLOP/s (conv FLOPs counted by hooks; 35.9 MFLOP per input pixel)
    and the fraction of the convolution limit (never clamped);
  * the official BasicSR RRDBNet with the same weights, fp32 and bf16 autocast, when the official
    code is importable (benchmarks/official.py); otherwise "not measured" and no ratio;
  * NCHW vs NHWC (channels_last) activations / weights, 1 vs all threads, tiled (tile 64,
    tile_pad 10; time vs the overlap it recomputes, and its max abs difference from untiled);
  * bf16: autocast and bf16 weights, speed-up over fp32 and PSNR(bf16 vs fp32 output) (on a 16×16
    crop when the CPU lacks native bf16, where bf16 is an order of magnitude slower).
The weights are the official x4plus ncnn copy when the mirror has it (PSNR depends on real
weights), otherwise a seeded random init (reported). Minimum over repeats is reported.
``--tiny``: a 24x24 input, tiles of 16 (pad 4), one repeat and a short yardstick: every path in
seconds, for the CPU test (its figures mean nothing).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import official as official_code
import yardstick

from replication.archs.infer import tile_recompute_fraction, upscale_tensor
from replication.archs.registry import build_arch


def conv_flops(net: torch.nn.Module, x: torch.Tensor) -> float:
    """FLOPs (2 per multiply-add) of every Conv2d in one forward of ``x``."""
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        total += 2 * out.numel() * k

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.inference_mode():
        net(x)
    for h in handles:
        h.remove()
    return float(total)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = F.mse_loss(a.float(), b.float()).item()
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def load_net() -> tuple[torch.nn.Module, str]:
    try:
        from replication.archs.ncnn_import import ncnn_to_model
        from replication.params import load_params

        mirror = load_params(ROOT / "params.yaml").mirror_dir()
        param = mirror / "weights/ncnn/realesrgan/realesrgan-x4plus.param"
        net, _ = ncnn_to_model(param, param.with_suffix(".bin"), "rrdbnet")
        return net.eval(), "official x4plus weights (ncnn copy, fp16-rounded)"
    except Exception as exc:  # no mirror: speed is the same, PSNR less meaningful
        return build_arch("rrdbnet", seed=0).eval(), f"seeded random init ({type(exc).__name__})"


def test_image(size: int) -> torch.Tensor:
    try:
        from replication.imageio import read_image
        from replication.params import load_params

        mirror = load_params(ROOT / "params.yaml").mirror_dir()
        img = read_image(mirror / "datasets/realsrset/building.png").rgb
        return img[:, :, :size, :size].contiguous()
    except Exception:
        g = torch.Generator().manual_seed(0)
        return F.interpolate(
            torch.rand(1, 3, size // 8, size // 8, generator=g), size=(size, size), mode="bicubic"
        ).clamp(0, 1)


def native_bf16() -> bool:
    """True when the CPU has bf16 arithmetic (AVX512-BF16 or AMX), judged from /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def time_variants(variants: dict, repeats: int, warmup: bool = True) -> tuple[dict, dict]:
    """Time the variants interleaved (minimum per variant), keeping each one's output.

    With ``warmup`` every variant runs once untimed first; without it the first run is timed too.
    """
    outputs = {name: fn() for name, fn in variants.items()} if warmup else {}
    times = dict.fromkeys(variants, math.inf)
    for _ in range(repeats):
        for name, fn in variants.items():
            t = time.perf_counter()
            outputs[name] = fn()
            times[name] = min(times[name], time.perf_counter() - t)
    return times, outputs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="64×64 input, 1 repeat")
    ap.add_argument("--tiny", action="store_true", help="24×24 input, tiles of 16, 1 repeat, short yardstick")
    ap.add_argument("--tile", type=int, default=64, help="tile side of the tiled row (default 64)")
    ap.add_argument("--tile-pad", type=int, default=10, help="tile overlap of the tiled row (default 10)")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    ap.add_argument(
        "--bf16-size",
        type=int,
        default=0,
        help="input size of the bf16 group (default: --size with native bf16, else 16)",
    )
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--official", type=Path, help=f"official code folder (default: ${official_code.ENV})")
    args = ap.parse_args()
    if args.quick:
        args.size, args.repeats = 64, 1
    if args.tiny:
        args.size, args.repeats, args.tile, args.tile_pad = 24, 1, 16, 4
    secs = 0.05 if args.tiny else 0.6
    if args.threads:
        torch.set_num_threads(args.threads)

    net, weights = load_net()
    x = test_image(args.size)
    flops = conv_flops(net, x)
    off, why = official_code.load(args.official)
    off_net = None
    if off is not None:  # the official RRDBNet with the same weights (our key names are the official ones)
        off_net = off.RRDBNet(num_in_ch=3, num_out_ch=3, num_feat=64, num_block=23, num_grow_ch=32, scale=4).eval()
        off_net.load_state_dict(net.state_dict())
        print(f"official code: {off.version} (measured side by side)")
    else:
        print(f"official code: not measured: {why}")

    def official(inp: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            return off_net(inp).float().clamp_(0, 1)

    limits = yardstick.measure("cpu", secs, quick=args.quick, tiny=args.tiny)
    net_bf16 = build_arch("rrdbnet", **net.hyperparameters).eval()
    net_bf16.load_state_dict(net.state_dict())
    net_bf16 = net_bf16.to(torch.bfloat16)
    net_cl = build_arch("rrdbnet", **net.hyperparameters).eval()
    net_cl.load_state_dict(net.state_dict())
    net_cl = net_cl.to(memory_format=torch.channels_last)

    def one_thread():
        saved = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return upscale_tensor(net, x)
        finally:
            torch.set_num_threads(saved)

    tiled_name = f"fp32 tiled {args.tile} pad {args.tile_pad}"
    variants = {
        "fp32 NCHW": lambda: upscale_tensor(net, x, channels_last=False),
        "fp32 (default: NHWC input)": lambda: upscale_tensor(net, x),
        "fp32 NHWC input+weights": lambda: upscale_tensor(net_cl, x),
        "fp32 default, 1 thread": one_thread,
        tiled_name: lambda: upscale_tensor(net, x, tile=args.tile, tile_pad=args.tile_pad),
    }
    if off_net is not None:
        variants["official fp32 (NCHW)"] = lambda: official(x)
    times, outputs = time_variants(variants, args.repeats)
    # bf16 group: on CPUs without native bf16 (no AVX512-BF16 / AMX) oneDNN falls back to very slow
    # kernels, so this group runs on a 16 px crop (its own fp32 reference at the same size).
    bf16_size = args.bf16_size or (args.size if native_bf16() else min(args.size, 16))
    xb = x[:, :, :bf16_size, :bf16_size].contiguous()
    bf16_variants = {
        f"fp32 default ({bf16_size}px)": lambda: upscale_tensor(net, xb),
        f"bf16 autocast ({bf16_size}px)": lambda: upscale_tensor(net, xb, dtype=torch.bfloat16),
        f"bf16 weights ({bf16_size}px)": lambda: upscale_tensor(net_bf16, xb, dtype=torch.bfloat16),
    }
    if off_net is not None:
        bf16_variants[f"official bf16 autocast ({bf16_size}px)"] = lambda: official(xb, torch.bfloat16)
    fast = native_bf16()
    btimes, bouts = time_variants(bf16_variants, args.repeats if fast else 1, warmup=fast)

    # the limit again after the runs: the machine is shared, keep the better (less disturbed) value
    after = yardstick.measure("cpu", secs, quick=True, tiny=args.tiny)
    peak = {k: max(limits.conv[k], after.conv[k]) / 1e9 for k in ("fp32", "bf16")}
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    peak1 = yardstick.measure("cpu", secs, quick=True, tiny=args.tiny).conv["fp32"] / 1e9
    torch.set_num_threads(saved_threads)
    recompute = tile_recompute_fraction(args.size, args.size, args.tile, args.tile_pad)
    rows = []
    for grp_times, grp_outs, size in ((times, outputs, args.size), (btimes, bouts, bf16_size)):
        ref_name = next(iter(grp_times))
        ref = grp_outs[ref_name]
        work_px = flops / args.size**2 * size**2
        for name, t in grp_times.items():
            work = work_px * (1 + recompute) if "tiled" in name else work_px
            limit = peak1 if "1 thread" in name else peak["bf16" if "bf16" in name else "fp32"]
            rows.append(
                dict(
                    variant=name,
                    input=size,
                    seconds=t,
                    out_mp_per_s=(4 * size) ** 2 / 1e6 / t,
                    gflops=work / t / 1e9,
                    peak_fraction=yardstick.fraction(work / t / 1e9, limit),
                    vs_fp32=grp_times[ref_name] / t,
                    psnr_vs_fp32=psnr(grp_outs[name], ref),
                    max_abs_diff=(grp_outs[name] - ref).abs().max().item(),
                )
            )
    print(f"RRDBNet x4 (23 blocks), input {args.size}x{args.size} -> output {4 * args.size}x{4 * args.size}; {weights}")
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}, native bf16: {native_bf16()}; conv work "
        f"{flops / 1e9:.1f} GFLOP ({flops / args.size**2 / 1e6:.2f} MFLOP per input pixel)"
    )
    print(limits.line())
    print(
        f"yardstick used (best of before/after): 3x3 conv fp32 {peak['fp32']:.1f}, bf16 {peak['bf16']:.1f} GFLOP/s "
        f"(fp32 {peak1:.1f} with 1 thread, for 1-thread rows); tiled recompute (tile {args.tile}, pad "
        f"{args.tile_pad}): {recompute:.1%}"
    )
    print(
        f"{'variant':30} {'s':>7} {'out MP/s':>9} {'GFLOP/s':>8} {'of conv limit':>14} {'vs first':>8} "
        f"{'PSNR dB':>8} {'max diff':>9}"
    )
    for r in rows:
        print(
            f"{r['variant']:30} {r['seconds']:7.2f} {r['out_mp_per_s']:9.4f} {r['gflops']:8.1f} "
            f"{yardstick.describe_fraction(r['peak_fraction'], 1.0):>14} {r['vs_fp32']:7.2f}x "
            f"{r['psnr_vs_fp32']:8.1f} {r['max_abs_diff']:9.2e}"
        )
    if off_net is not None:
        bf16_name = next(n for n in btimes if n.startswith("bf16 autocast"))
        print(
            "side by side, same run: ours (default) vs official fp32 "
            f"{times['official fp32 (NCHW)'] / times['fp32 (default: NHWC input)']:.2f}x; ours bf16 autocast vs "
            f"official bf16 autocast {btimes[f'official bf16 autocast ({bf16_size}px)'] / btimes[bf16_name]:.2f}x"
        )
    else:
        print("side by side: official code not measured (no ratio)")
    tiled = times[tiled_name] / times["fp32 (default: NHWC input)"]
    print(f"tiled/untiled (default path) time {tiled:.3f} vs 1 + recompute {1 + recompute:.3f}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                dict(
                    size=args.size,
                    conv_limit_gflops=peak,
                    conv_limit_gflops_1thread=peak1,
                    matmul_gflops={k: v / 1e9 for k, v in limits.matmul.items()},
                    flops=flops,
                    weights=weights,
                    recompute=recompute,
                    rows=rows,
                ),
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
