"""Training speed: seconds per iteration of each phase, achieved FLOP/s, and bf16 vs fp32.

    python benchmarks/bench_train.py [--quick] [--device cpu|cuda] [--steps N] [--threads N]

Rows: size (``smoke``: the smoke profile's tiny nets, batch 4, GT 64; ``paper``: RRDBNet 64x23,
U-Net D 64, batch 4, GT 256 = LR 64, GT crops of 400 as in the reference) x phase (net, gan) x
precision (fp32; fp32 channels-last; bf16 autocast). Each row times whole training steps as the
trainer runs them (sub-image reading, degradation synthesis, pool, forward, backward, Adam, EMA) and
splits out the data + synthesis share. FLOPs of one step are counted with
``torch.utils.flop_counter`` (convolutions and matmuls, forward and backward, degradation included)
and divided by the step time; the fraction is of the fp32 (resp. bf16) matmul peak measured in the
same run. The issue records the official BasicSR code on this 2-core CPU at ~10.9 s (Real-ESRNet)
and ~26 s (Real-ESRGAN) per step at the paper size, batch 4; the table shows our ratio to those.

A short same-seed run in fp32 and in bf16 (smoke size) reports bf16's effect on the loss curve.
``--quick``: smoke size only and a smaller matmul. Timings depend on the machine's load: the load
average is printed; compare ratios within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL_CPU_SEC = {"net": 10.9, "gan": 26.0}  # official code, this 2-core CPU, batch 4, LR 64 (issue 5)


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, seconds: float) -> float:
    """Achieved FLOP/s of n x n x n matmuls repeated for about ``seconds`` (the practical peak).

    Sizes grow from 256 up to ``n`` while one product takes under ``seconds`` / 4, so a dtype
    without hardware support (bf16 on CPUs without AVX512-BF16/AMX: ~100x slower) stays cheap.
    """
    gen = torch.Generator().manual_seed(0)
    size = 256
    while True:
        a = torch.rand(size, size, generator=gen).to(device, dtype)
        b = torch.rand(size, size, generator=gen).to(device, dtype)
        a @ b
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        once = time.perf_counter() - t0
        if size >= n or once > seconds / 4:
            break
        size *= 2
    reps, t0 = 0, time.perf_counter()
    while reps == 0 or time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
    sync(device)
    return 2 * size**3 * reps / (time.perf_counter() - t0)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_store(out: Path, crop: int) -> Path:
    from replication.data.config import DataConfig
    from replication.data.prepare import prepare_subimages
    from replication.params import load_params

    src = load_params(ROOT / "params.yaml").mirror_dir() / "datasets" / "sample-hr-cc0"
    files = [src / "woman.png", src / "food.png", src / "monkey_and_man.png"]
    cfg = DataConfig(
        train_sets=("t",),
        multiscale_sets=(),
        multiscale_factors=(0.5,),
        multiscale_shortest_edge=0,
        crop_size=crop,
        crop_step=crop,
        thresh_size=0,
        shard_size=1000,
    )
    prepare_subimages({"t": files}, {"t": src}, cfg, out, workers=1, progress=False)
    return out


def write_params(tmp: Path, size: str) -> Path:
    """params.yaml with the profile for ``size`` active, batch 4, untrained VGG (weights do not change speed)."""
    from replication.params import Profile
    from replication.report.config import expected_pipeline_lists
    from replication.strict import from_dict, to_dict

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["profile"] = "smoke" if size == "smoke" else "paper"
    raw["mirror"] = ""
    prof = raw["profiles"][raw["profile"]]
    prof["network"]["net_init"] = "scratch"
    for phase in ("train_net", "train_gan"):
        prof[phase].update(
            batch_size=4,
            gt_size=64 if size == "smoke" else 256,
            vgg_weights="untrained",
            iters=10**6,
            ckpt_every=10**6,
            log_every=10**6,
            sample_every=10**6,
        )
    raw["pipeline"] = to_dict(expected_pipeline_lists(from_dict(Profile, prof)))
    path = tmp / f"params_{size}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def build(params: Path, data: Path, phase: str, device: str, amp: str, channels_last: bool):
    from replication.train import distributed
    from replication.train.loop import RunOptions, build_trainer, preflight

    opts = RunOptions(
        params_path=params,
        profile=None,
        variant="full",
        phase=phase,
        data=data,
        out=params.parent / "run",
        init="scratch",
        models_dir=params.parent,
        vgg_weights=params,
        device=device,
        amp=amp,
        channels_last=channels_last,
    )
    return build_trainer(preflight(opts), opts, distributed.setup(device))


def time_steps(t, phase: str, steps: int) -> dict:
    """Seconds per step (whole step) and the share spent reading data + synthesising pairs."""
    from torch.utils.flop_counter import FlopCounterMode

    from replication.train.loop import gan_step, net_step, next_gt_batch

    step_fn = net_step if phase == "net" else gan_step
    synth_name = "net_pair" if phase == "net" else "gan_triplet"
    original = getattr(t.synth, synth_name)
    spent = {"synth": 0.0}

    def timed(*a, **k):
        t0 = time.perf_counter()
        out = original(*a, **k)
        sync(t.device)
        spent["synth"] += time.perf_counter() - t0
        return out

    setattr(t.synth, synth_name, timed)
    step_fn(t, next_gt_batch(t))  # warm-up (allocator, oneDNN primitive caches)
    sync(t.device)
    spent["synth"] = 0.0
    data = 0.0
    t0 = time.perf_counter()
    for _ in range(steps):
        d0 = time.perf_counter()
        gt = next_gt_batch(t)
        data += time.perf_counter() - d0
        step_fn(t, gt)
    sync(t.device)
    total = (time.perf_counter() - t0) / steps
    with FlopCounterMode(display=False) as counter:
        step_fn(t, next_gt_batch(t))
    return {"sec": total, "data_synth": (data + spent["synth"]) / steps, "flops": counter.get_total_flops()}


def loss_curves(params: Path, data: Path, device: str, steps: int) -> dict[str, list[float]]:
    from replication.train.loop import gan_step, next_gt_batch

    curves = {}
    for amp in ("none", "bf16"):
        t = build(params, data, "gan", device, amp, False)
        curves[amp] = [gan_step(t, next_gt_batch(t))["l_g_pix"].item() for _ in range(steps)]
    return curves


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke size only, small matmul, short curves")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, help="timed steps per row (default: 3 smoke / 2 paper; --quick 2)")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: PyTorch's choice)")
    ap.add_argument("--curve-steps", type=int, help="steps of the fp32-vs-bf16 loss curves (default 40; --quick 10)")
    ap.add_argument("--sizes", default=None, help="comma list of smoke,paper (default: both; --quick: smoke)")
    ap.add_argument(
        "--precisions",
        default="fp32,cl,bf16",
        help="comma list of fp32, cl (fp32 channels-last), bf16 (default: all three)",
    )
    ap.add_argument("--phases", default="net,gan", help="comma list of net, gan (default: both)")
    ap.add_argument(
        "--force-bf16",
        action="store_true",
        help="run bf16 rows even where bf16 matmul is slower than fp32 (no bf16 hardware)",
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sizes = args.sizes.split(",") if args.sizes else (["smoke"] if args.quick else ["smoke", "paper"])
    print(f"device {device}, {torch.get_num_threads()} threads, load average at start {os.getloadavg()}")
    n = 1024 if args.quick else 2048
    peak = {
        "fp32": matmul_peak(device, torch.float32, n, 1.0 if args.quick else 3.0),
        "bf16": matmul_peak(device, torch.bfloat16, n, 1.0 if args.quick else 3.0),
    }
    print(f"matmul peak (up to {n}^3): fp32 {peak['fp32'] / 1e9:.1f} GFLOP/s, bf16 {peak['bf16'] / 1e9:.1f} GFLOP/s")
    wanted = set(args.precisions.split(","))
    if "bf16" in wanted and peak["bf16"] < peak["fp32"] and not args.force_bf16:
        wanted.discard("bf16")
        print(
            "bf16 is not accelerated here (bf16 matmul slower than fp32: no bf16 instructions); bf16 rows and "
            "the bf16 loss curve are skipped (--force-bf16 runs them)"
        )
    precisions = [
        (label, amp, cl)
        for key, label, amp, cl in (
            ("fp32", "fp32", "none", False),
            ("cl", "fp32 channels-last", "none", True),
            ("bf16", "bf16 autocast", "bf16", False),
        )
        if key in wanted
    ]

    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        stores = {size: make_store(tmp / f"store_{size}", 128 if size == "smoke" else 400) for size in sizes}
        for size in sizes:
            params = write_params(tmp, size)
            steps = args.steps or (2 if args.quick else (3 if size == "smoke" else 2))
            for phase in args.phases.split(","):
                for label, amp, cl in precisions:
                    torch.manual_seed(0)  # nothing here should read it; belt and braces for fair warm-ups
                    t = build(params, stores[size], phase, args.device, amp, cl)
                    r = time_steps(t, phase, steps)
                    pk = peak["bf16" if amp == "bf16" else "fp32"]
                    rows.append((size, phase, label, r["sec"], r["data_synth"], r["flops"] / r["sec"] / pk, r["flops"]))
                    print(
                        f"  {size:5s} {phase:3s} {label:18s} {r['sec']:8.3f} s/it, data+synthesis "
                        f"{r['data_synth'] / r['sec']:.0%}, {r['flops'] / 1e9:.1f} GFLOP/step, "
                        f"{rows[-1][5]:.1%} of matmul peak",
                        file=sys.stderr,
                        flush=True,
                    )
                    del t
        curves = None
        if "bf16" in wanted:
            curve_steps = args.curve_steps or (10 if args.quick else 40)
            curves = loss_curves(write_params(tmp, "smoke"), make_store(tmp / "curve", 128), args.device, curve_steps)

    print(f"\nload average at end {os.getloadavg()} (the machine is shared: compare ratios within this run)\n")
    print(
        "| size | phase | precision | s/iter | data+synthesis | GFLOP/step | % of matmul peak | vs first row | vs official |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    base = {(s, p): sec for s, p, lab, sec, *_ in rows if lab == rows[0][2]}
    for size, phase, label, sec, ds, frac, flops in rows:
        official = f"{OFFICIAL_CPU_SEC[phase] / sec:.2f}x" if size == "paper" and device.type == "cpu" else "-"
        print(
            f"| {size} | {phase} | {label} | {sec:.3f} | {ds / sec:.0%} | {flops / 1e9:.1f} | {frac:.1%} | "
            f"{base[(size, phase)] / sec:.2f}x | {official} |"
        )
    if curves is None:
        return
    a, b = curves["none"], curves["bf16"]
    w = max(1, len(a) // 5)
    diff = max(abs(x - y) for x, y in zip(a, b, strict=False))
    print(
        f"\nloss curve, Real-ESRGAN smoke size, {len(a)} steps, same seed: l_g_pix mean of the first/last {w} steps "
        f"fp32 {sum(a[:w]) / w:.4f} -> {sum(a[-w:]) / w:.4f}, bf16 {sum(b[:w]) / w:.4f} -> {sum(b[-w:]) / w:.4f}; "
        f"largest per-step difference {diff:.4f}"
    )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
