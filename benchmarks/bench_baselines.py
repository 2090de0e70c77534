"""DAN and CDC at full size: speed, peak memory, CPU/GPU agreement and CDC tiled vs whole-image output.

    PYTHONPATH=$PWD python3 benchmarks/bench_baselines.py --pca MIRROR/weights/dan/pca_matrix.pth [--device cuda]
        [--sizes 128,256] [--tiled-width 1024] [--json out.json]

The CPU test runs every path at tiny sizes: ``--sizes 16 --agree-size 16 --agree --tiled-width 48
--tiled-height 32 --tile 32`` (``--agree`` forces the device-vs-CPU comparison, which on the CPU
compares the CPU with itself: the code path, not a finding).

Random weights (the official checkpoints are not available offline): the numbers are about cost
and numerical agreement, not image quality. GPU convolutions run with TF32 off unless --tf32.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from replication.archs.cdc import CDC
from replication.archs.dan import DAN, load_pca_matrix
from replication.archs.infer import upscale_tensor


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(net: torch.nn.Module, x: torch.Tensor, device: str, repeats: int = 3) -> tuple[float, float]:
    """(median seconds per forward, peak GPU memory in GiB or 0)."""
    with torch.inference_mode():
        net(x)  # warm-up (cuDNN algorithm choice)
        _sync(device)
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            net(x)
            _sync(device)
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else 0.0
    return sorted(times)[len(times) // 2], peak


def _image(h: int, w: int, seed: int) -> torch.Tensor:
    # smooth random image: bilinear upsampling of coarse noise (closer to photos than white noise)
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, max(h // 8, 2), max(w // 8, 2), generator=gen)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)


def _mid_grey(net: CDC) -> CDC:
    # random CDC outputs sit near 0 and would be clamped away; centre them on 0.5 (masks sum to 1)
    with torch.no_grad():
        for comp in ("flat", "edge", "corner"):
            last = getattr(net, f"upsample_{comp}")[4][0]
            last.weight.mul_(20)
            last.bias.fill_(0.5)
    return net


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pca", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", default="64")
    ap.add_argument("--agree-size", type=int, default=32, help="LR side for the CPU/GPU comparison")
    ap.add_argument("--tiled-width", type=int, default=0, help="LR width of the CDC tiling check (0: skip)")
    ap.add_argument("--tiled-height", type=int, default=160, help="LR height of the CDC tiling check")
    ap.add_argument("--tile", type=int, default=256, help="tile side of the CDC tiling check")
    ap.add_argument("--agree", action="store_true", help="compare with the CPU even when --device is cpu")
    ap.add_argument("--tf32", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    dev = args.device
    dan = DAN(seed=0)
    dan.set_pca(load_pca_matrix(args.pca))
    nets = {"dan": dan.eval(), "cdc": _mid_grey(CDC(seed=0)).eval()}
    report: dict = {"device": torch.cuda.get_device_name() if dev.startswith("cuda") else "cpu", "tf32": args.tf32}
    for name, net in nets.items():
        net.to(dev)
        for side in (int(s) for s in args.sizes.split(",")):
            sec, peak = _timed(net, _image(side, side, 1).to(dev), dev)
            report[f"{name}_{side}px_s"] = round(sec, 4)
            report[f"{name}_{side}px_peak_gib"] = round(peak, 2)
            print(f"{name} {side}x{side}: {sec:.3f} s/forward, peak {peak:.2f} GiB", flush=True)
        if dev != "cpu" or args.agree:
            x = _image(args.agree_size, args.agree_size + 16, 2)
            with torch.inference_mode():
                on_dev = net(x.to(dev)).cpu()
                net.cpu()
                on_cpu = net(x)
                net.to(dev)
            diff = float((on_dev - on_cpu).abs().max())
            report[f"{name}_cpu_vs_{dev}_maxabs"] = diff
            print(f"{name}: CPU vs {dev} max abs diff {diff:.3g}", flush=True)
    if args.tiled_width:
        net = nets["cdc"]
        x = _image(args.tiled_height, args.tiled_width, 3).to(dev)
        whole = upscale_tensor(net, x, channels_last=False)
        radius = net.receptive_radius
        for pad in (radius, 64):
            tiled = upscale_tensor(net, x, tile=args.tile, tile_pad=pad, channels_last=False)
            diff = float((whole - tiled).abs().max())
            report[f"cdc_tile{args.tile}_pad{pad}_maxabs"] = diff
            print(f"cdc whole vs tile {args.tile} pad {pad}: max abs diff {diff:.3g}", flush=True)
        report["cdc_whole_std"] = float(whole.std())
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1)


if __name__ == "__main__":
    main()
