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
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import official as official_code
import yardstick
from gpu_check import build, sync  # one trainer builder for both benchmarks


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
    from replication.train.config import VariantConfig

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
    variants = {k: from_dict(VariantConfig, v) for k, v in raw["variants"].items()}
    raw["pipeline"] = to_dict(expected_pipeline_lists(from_dict(Profile, prof), variants))
    path = tmp / f"params_{size}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


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


def build_official(off, params: Path, phase: str, tmp: Path):
    """The official Real-ESRNet / Real-ESRGAN model on the CPU, built from our paper-profile values.

    Its constructors move DiffJPEG/USM and the pool to CUDA; on the CPU we run the same base-class
    constructors and give it CPU copies, and substitute our pool (the same rule) for its CUDA queue.
    The VGG19 of the perceptual loss is untrained (speed does not depend on the weights).
    """
    import basicsr.archs.vgg_arch as vgg_arch
    import torchvision
    from basicsr.models.sr_model import SRModel
    from basicsr.models.srgan_model import SRGANModel
    from bench_degradation import official_opt

    from replication.degrade.pool import TrainingPairPool
    from replication.params import load_params

    profile = load_params(params).active
    cfg, net = profile.degradation, profile.network
    train_cfg = profile.train_net if phase == "net" else profile.train_gan
    vgg_path = tmp / "vgg19_untrained.pth"
    if not vgg_path.exists():
        torch.save(torchvision.models.vgg19().state_dict(), vgg_path)
    vgg_arch.VGG_PRETRAIN_PATH = str(vgg_path)
    adam = dict(type="Adam", lr=train_cfg.lr, weight_decay=0, betas=list(train_cfg.betas))
    train = dict(
        ema_decay=train_cfg.ema_decay,
        optim_g=dict(adam),
        scheduler=dict(type="MultiStepLR", milestones=list(train_cfg.lr_milestones), gamma=train_cfg.lr_gamma),
        pixel_opt=dict(type="L1Loss", loss_weight=train_cfg.l1_weight, reduction="mean"),
    )
    if phase == "gan":
        train.update(
            optim_d=dict(adam),
            perceptual_opt=dict(
                type="PerceptualLoss", layer_weights=dict(train_cfg.perceptual_layers), vgg_type="vgg19",
                use_input_norm=True, perceptual_weight=train_cfg.perceptual_weight, style_weight=0,
                range_norm=False, criterion="l1",
            ),
            gan_opt=dict(type="GANLoss", gan_type="vanilla", real_label_val=1.0, fake_label_val=0.0,
                         loss_weight=train_cfg.gan_weight),
            net_d_iters=1, net_d_init_iters=0,
        )  # fmt: skip
    opt = dict(
        official_opt(cfg, train_cfg.gt_size),
        num_gpu=0, dist=False, is_train=True, rank=0, world_size=1, path={}, queue_size=cfg.pool_size,
        network_g=dict(type="RRDBNet", num_in_ch=3, num_out_ch=3, num_feat=net.num_feat, num_block=net.num_block,
                       num_grow_ch=net.num_grow_ch),
        network_d=dict(type="UNetDiscriminatorSN", num_in_ch=3, num_feat=net.disc_num_feat, skip_connection=True),
        train=train,
    )  # fmt: skip
    if phase == "net":
        opt["gt_usm"] = train_cfg.l1_gt_usm  # Real-ESRNet's option: sharpen the GT it trains on
    cls = off.NetModel if phase == "net" else off.Model
    model = cls.__new__(cls)
    (SRModel if phase == "net" else SRGANModel).__init__(model, opt)
    model.jpeger = off.DiffJPEG(differentiable=False)
    model.usm_sharpener = off.USMSharp()
    model.queue_size = cfg.pool_size
    pool = TrainingPairPool(cfg.pool_size, seed=0)

    def dequeue_and_enqueue():
        model.lq, model.gt = pool(model.lq, model.gt)

    model._dequeue_and_enqueue = dequeue_and_enqueue
    return model, cfg


def time_official(off, params: Path, phase: str, t, steps: int, tmp: Path) -> float:
    """Seconds per official training step (fp32) on GT batches read by our trainer ``t``."""
    from bench_degradation import official_kernels

    from replication.train.loop import next_gt_batch

    model, cfg = build_official(off, params, phase, tmp)
    spent = 0.0
    for it in range(steps + 1):  # the first step warms up
        data = {"gt": next_gt_batch(t), **official_kernels(off, cfg, t.cfg.batch_size)}
        t0 = time.perf_counter()
        model.feed_data(data)
        model.optimize_parameters(it + 1)
        if it:
            spent += time.perf_counter() - t0
    return spent / steps


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
    limits = yardstick.measure(device, quick=args.quick)
    print(limits.line())
    peak = dict(limits.conv)
    off, why = official_code.load(args.official) if device.type == "cpu" else (None, "CPU only")
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
        stores = {size: make_store(tmp / f"store_{size}", 128 if size == "smoke" else 400) for size in sizes}
        for size in sizes:
            params = write_params(tmp, size)
            steps = args.steps or (2 if args.quick else (3 if size == "smoke" else 2))
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
            curve_steps = args.curve_steps or (10 if args.quick else 40)
            curves = loss_curves(write_params(tmp, "smoke"), make_store(tmp / "curve", 128), args.device, curve_steps)

    print(f"\nload average at end {os.getloadavg()} (the machine is shared: compare ratios within this run)\n")
    # The limit again after the runs: on a shared machine the load moves; the better value is the limit.
    after = yardstick.measure(device, quick=True)
    peak = {k: max(peak[k], after.conv[k]) for k in peak}
    print(
        f"conv limit used (best of before/after): fp32 {peak['fp32'] / 1e9:.1f}, bf16 {peak['bf16'] / 1e9:.1f} GFLOP/s"
    )
    print(
        "| size | phase | precision | s/iter | data+synthesis | GFLOP/step | of conv limit | vs first row "
        "| official fp32 s/iter | vs official |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = {(s, p): sec for s, p, lab, sec, *_ in rows if lab == rows[0][2]}
    for size, phase, label, sec, ds, _, flops in rows:
        frac = yardstick.fraction(flops / sec, peak["bf16" if "bf16" in label else "fp32"])
        if size == "paper" and phase in official_sec:
            official = f"{official_sec[phase]:.3f} | {official_sec[phase] / sec:.2f}x"
        else:
            official = "not measured | -" if size == "paper" else "- | -"
        print(
            f"| {size} | {phase} | {label} | {sec:.3f} | {ds / sec:.0%} | {flops / 1e9:.1f} | "
            f"{yardstick.describe_fraction(frac, 1.0)} | {base[(size, phase)] / sec:.2f}x | {official} |"
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
