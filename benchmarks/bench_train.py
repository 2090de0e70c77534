"""Training speed: seconds per iteration of each phase, achieved FLOP/s, and bf16 vs fp32.

    python benchmarks/bench_train.py [--quick] [--device cpu|cuda] [--steps N] [--threads N] [--official DIR]

Rows: size (``smoke``: the smoke profile's tiny nets, batch 4, GT 64; ``paper``: RRDBNet 64x23,
U-Net D 64, batch 4, GT 256 = LR 64, GT crops of 400 as in the reference) x phase (net, gan) x
precision (fp32; fp32 channels-last; bf16 autocast). Each row times whole training steps as the
trainer runs them (sub-image reading, degradation synthesis, pool, forward, backward, Adam, EMA) and
splits out the data + synthesis share. FLOPs of one step are counted with
``torch.utils.flop_counter`` (convolutions and matmuls, forward and backward, degradation included)
and divided by the step time; the fraction is of the fp32 (resp. bf16) 3x3-convolution limit
measured in the same run (benchmarks/yardstick.py; never clamped). At the paper size, the official
BasicSR/Real-ESRGAN training step (``feed_data`` + ``optimize_parameters``, fp32, same batches, same
pool rule, kernels drawn outside the timed step as its data loader does) is measured in the same run
when the official code is importable (benchmarks/official.py); otherwise "not measured", no ratio.

A short same-seed run in fp32 and in bf16 (smoke size) reports bf16's effect on the loss curve.
``--quick``: smoke size only and a smaller matmul. ``--tiny``: every path of the script (both sizes,
the official step when present, the loss curves, the yardstick including RRDBNet's layer shapes)
with the paper profile's network shrunk to one 8-feature RRDB at batch 2, GT 32, in seconds, so a CPU
test keeps it from rotting (its figures mean nothing). The yardstick's limit at RRDBNet's own layer
shapes (benchmarks/yardstick.py) is printed beside the 256-channel one, with each row's fraction of
both. Timings depend on the machine's load: the load average is printed; compare ratios within one run.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import official as official_code
import yardstick
from trainbench import TINY_GT_CROP, build, sync, time_official, write_params  # shared with gpu_check.py


def params_for(tmp: Path, size: str, tiny: bool) -> Path:
    """The params file of one size: ``smoke`` (its own nets, batch 4, GT 64) or ``paper`` (batch 4, GT
    256; with ``tiny`` a 1-block RRDBNet, batch 2, GT 32, so a CPU test runs this path in seconds)."""
    if size == "smoke":
        return write_params(tmp, "smoke", batch_size=4, gt_size=64, tiny=False)
    return write_params(tmp, "paper", batch_size=2 if tiny else 4, gt_size=32 if tiny else 256, tiny=tiny)


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
    data_synth = (data + spent["synth"]) / steps  # before the FLOP-counting step below adds its synthesis
    with FlopCounterMode(display=False) as counter:
        step_fn(t, next_gt_batch(t))
    return {"sec": total, "data_synth": data_synth, "flops": counter.get_total_flops()}


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
    ap.add_argument("--tiny", action="store_true", help="every path at tiny sizes, in seconds (the CPU test)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, help="timed steps per row (default: 3 smoke / 2 paper; --quick 2; --tiny 1)")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: PyTorch's choice)")
    ap.add_argument("--curve-steps", type=int, help="steps of the fp32-vs-bf16 loss curves (default 40; --quick 10)")
    ap.add_argument("--sizes", default=None, help="comma list of smoke,paper (default: both; --quick: smoke)")
    ap.add_argument(
        "--precisions",
        default="fp32,cl,bf16",
        help="comma list of fp32, cl (fp32 channels-last), bf16 (default: all three)",
    )
    ap.add_argument("--phases", default="net,gan", help="comma list of net, gan (default: both)")
    ap.add_argument("--official", type=Path, help=f"official code folder (default: ${official_code.ENV})")
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
    secs = 0.05 if args.tiny else 0.6
    limits = yardstick.measure(device, secs, quick=args.quick, rrdb=True, tiny=args.tiny)
    print(limits.line())
    peak = dict(limits.conv)
    off, why = official_code.load(args.official)
    print(f"official code: {off.version} (measured side by side)" if off else f"official code: not measured: {why}")
    official_sec: dict[str, float] = {}
    wanted = set(args.precisions.split(","))
    if "bf16" in wanted and peak["bf16"] < peak["fp32"] and not args.force_bf16:
        wanted.discard("bf16")
        print(
            "bf16 is not accelerated here (bf16 convolution slower than fp32: no bf16 instructions); bf16 rows "
            "and the bf16 loss curve are skipped (--force-bf16 runs them)"
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
        stores = {
            size: make_store(tmp / f"store_{size}", TINY_GT_CROP if size == "smoke" or args.tiny else 400)
            for size in sizes
        }
        for size in sizes:
            params = params_for(tmp, size, args.tiny)
            steps = args.steps or (1 if args.tiny else 2 if args.quick else (3 if size == "smoke" else 2))
            for phase in args.phases.split(","):
                for label, amp, cl in precisions:
                    torch.manual_seed(0)  # nothing here should read it; belt and braces for fair warm-ups
                    t = build(params, stores[size], phase, args.device, amp, cl)
                    r = time_steps(t, phase, steps)
                    if off is not None and size == "paper" and phase not in official_sec:
                        official_sec[phase] = time_official(off, params, phase, t, steps, tmp)
                        print(f"  paper {phase} official fp32: {official_sec[phase]:.3f} s/it", file=sys.stderr)
                    pk = peak["bf16" if amp == "bf16" else "fp32"]
                    rows.append((size, phase, label, r["sec"], r["data_synth"], r["flops"] / r["sec"] / pk, r["flops"]))
                    print(
                        f"  {size:5s} {phase:3s} {label:18s} {r['sec']:8.3f} s/it, data+synthesis "
                        f"{r['data_synth'] / r['sec']:.0%}, {r['flops'] / 1e9:.1f} GFLOP/step, "
                        f"{yardstick.describe_fraction(rows[-1][5], 1.0)} of the conv limit",
                        file=sys.stderr,
                        flush=True,
                    )
                    del t
        curves = None
        if "bf16" in wanted:
            curve_steps = args.curve_steps or (2 if args.tiny else 10 if args.quick else 40)
            curves = loss_curves(
                params_for(tmp, "smoke", False), make_store(tmp / "curve", TINY_GT_CROP), args.device, curve_steps
            )

    print(f"\nload average at end {os.getloadavg()} (the machine is shared: compare ratios within this run)\n")
    # The limit again after the runs: on a shared machine the load moves; the better value is the limit.
    after = yardstick.measure(device, secs, quick=True, rrdb=True, tiny=args.tiny)
    peak = {k: max(peak[k], after.conv[k]) for k in peak}
    rrdb = {k: max(limits.rrdb[k], after.rrdb[k]) for k in limits.rrdb}
    print(
        f"conv limit used (best of before/after): fp32 {peak['fp32'] / 1e9:.1f}, bf16 {peak['bf16'] / 1e9:.1f} GFLOP/s; "
        f"at RRDBNet's layer shapes ({limits.rrdb_shape}): fp32 {rrdb['fp32'] / 1e9:.1f}, bf16 {rrdb['bf16'] / 1e9:.1f}"
    )
    print(
        "| size | phase | precision | s/iter | data+synthesis | GFLOP/step | of conv limit | of RRDB-shape limit "
        "| vs first row | official fp32 s/iter | vs official |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    base = {(s, p): sec for s, p, lab, sec, *_ in rows if lab == rows[0][2]}
    for size, phase, label, sec, ds, _, flops in rows:
        key = "bf16" if "bf16" in label else "fp32"
        frac = yardstick.fraction(flops / sec, peak[key])
        # Real-ESRNet's step is the generator's (RRDBNet at the paper size); the GAN step's FLOPs are mostly
        # VGG19's and the U-Net's wide convolutions, for which the 256-channel limit is the yardstick.
        rrdb_frac = yardstick.describe_fraction(flops / sec, rrdb[key]) if (size, phase) == ("paper", "net") else "-"
        if size == "paper" and phase in official_sec:
            official = f"{official_sec[phase]:.3f} | {official_sec[phase] / sec:.2f}x"
        else:
            official = "not measured | -" if size == "paper" else "- | -"
        print(
            f"| {size} | {phase} | {label} | {sec:.3f} | {ds / sec:.0%} | {flops / 1e9:.1f} | "
            f"{yardstick.describe_fraction(frac, 1.0)} | {rrdb_frac} | {base[(size, phase)] / sec:.2f}x | {official} |"
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
