"""One prepared check of the CUDA path, sized to fit in about 8 minutes on one H100/H200-class GPU.

    python benchmarks/gpu_check.py [--out DIR] [--budget SECONDS] [--official DIR] [--tiny] [--device cpu]
        [--dry-run] [--skip SECTION,...] [--compile-backend inductor|aot_eager]

Run it through ``benchmarks/gpu_check.sh`` (which sets the environment). Sections, each time-boxed
(a section that would not fit in what is left of ``--budget`` is skipped and reported as skipped):

1. ``limits``: the GPU's measured convolution limit, a large 3x3 convolution through cuDNN in bf16
   and in fp32 (cuDNN's default, TF32 allowed, which is what fp32 training uses; and strict fp32),
   NCHW and channels-last, the best layout taken; plus a bf16 matrix product for reference; and the
   limit at RRDBNet's own layer shapes (benchmarks/yardstick.py: 64 features, 32 growth channels,
   64x64 maps, batch 12), so a step's fraction can be read against what the architecture allows.
2. ``tests``: ``pytest -m gpu`` on the CUDA tests (tests/test_gpu.py, tests/test_degrade_pipeline.py).
3. ``train``: paper-size steps (RRDBNet 64x23, batch 12, GT 256 / LR 64; U-Net D and VGG19
   perceptual loss in the GAN phase) for fp32, bf16 autocast and bf16 channels-last. GT batches
   are read before timing; synthesis on the GPU, and reading the GT batch, are timed separately
   and reported as fractions of the step. FLOPs are counted with ``torch.utils.flop_counter``.
4. ``inference``: RRDBNet x4 whole-image inference to 512 and 1024 px outputs, MP/s.
5. ``official``: the official BasicSR/Real-ESRGAN training step (fp32, ``feed_data`` +
   ``optimize_parameters``) of both phases on the same device, same batches, when the official code
   folder is there (``--official DIR`` or ``$REPLICATION_OFFICIAL``; benchmarks/official.py, and
   docs/performance.md for carrying it to a machine without network); else "not measured".
6. ``compile``: the best training configuration under ``torch.compile`` (Real-ESRNet), in a
   child process with a time limit (compilation can take minutes).
7. ``projection``: wall time of the paper's 1000k + 400k iterations (total batch 48) on 1, 4 and 8
   such GPUs.

Results: ``OUT/gpu_check.json`` (everything) and ``OUT/gpu_check.md`` (tables); a summary is printed
last. ``--tiny``: the same code with tiny networks and sizes (the paper profile, a 1-block RRDBNet
with 8 features, batch 2, GT 32), in seconds; with ``--device cpu`` and ``--compile-backend
aot_eager`` (TorchDynamo and AOTAutograd without code generation) a CPU unit test runs every section
so that this script cannot rot (its figures mean nothing). ``--dry-run`` is short for ``--tiny
--device cpu --compile-backend aot_eager``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT), str(ROOT / "benchmarks")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import official as official_code
import yardstick
from trainbench import TINY_GT_CROP, build, sync, time_official, write_params

PAPER_ITERS = {"net": 1_000_000, "gan": 400_000}  # Real-ESRNet then Real-ESRGAN (paper, §4.1)
PAPER_GPUS = 4
PAPER_TOTAL_BATCH = 48
PROJECTED_GPUS = (1, 4, 8)
PRECISIONS = (  # label, amp, channels_last
    ("fp32", "none", False),
    ("bf16", "bf16", False),
    ("bf16 channels-last", "bf16", True),
)


# ---------------------------------------------------------------------------------------------
# Small helpers


def seconds_per_call(fn: Callable[[], object], device: torch.device, min_seconds: float, warmup: int = 2) -> float:
    """Median over 3 rounds of the mean time per call; each round repeats ``fn`` for >= min_seconds / 3."""
    for _ in range(warmup):
        fn()
    sync(device)
    rounds = []
    for _ in range(3):
        reps, t0 = 0, time.perf_counter()
        while True:
            fn()
            reps += 1
            sync(device)
            elapsed = time.perf_counter() - t0
            if elapsed >= min_seconds / 3:
                break
        rounds.append(elapsed / reps)
    return sorted(rounds)[1]


class Budget:
    """Wall-clock budget of the whole check; sections ask before they start."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


def run_section(name: str, results: dict, budget: Budget, needs: float, fn: Callable[[], dict]) -> None:
    """Run ``fn`` if at least ``needs`` seconds are left; record its result, a skip or its error."""
    left = budget.left()
    if left < needs:
        results[name] = {"status": f"skipped: {left:.0f} s of the budget left, section needs about {needs:.0f} s"}
        print(f"== {name}: SKIPPED ({results[name]['status']})", flush=True)
        return
    print(f"== {name} ({left:.0f} s of the budget left)", flush=True)
    t0 = time.monotonic()
    try:
        out = fn()
        out.setdefault("status", "ok")
    except Exception as exc:  # one broken section must not cost the others their figures
        out = {"status": f"error: {type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        print(out["traceback"], file=sys.stderr, flush=True)
    out["section_seconds"] = round(time.monotonic() - t0, 1)
    results[name] = out
    print(f"== {name}: {out['status']} in {out['section_seconds']} s", flush=True)


# ---------------------------------------------------------------------------------------------
# 1. Limits


def conv_rate(device: torch.device, dtype: torch.dtype, channels_last: bool, size: tuple, seconds: float) -> float:
    """FLOP/s of one 3x3, stride-1, padding-1 convolution (N, C, HW, HW) -> (N, C, HW, HW), random data."""
    n, c, hw = size
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(n, c, hw, hw, device=device, dtype=dtype, generator=gen)
    w = torch.randn(c, c, 3, 3, device=device, dtype=dtype, generator=gen) * 0.05
    if channels_last:
        x, w = x.contiguous(memory_format=torch.channels_last), w.contiguous(memory_format=torch.channels_last)
    flops = 2.0 * n * hw * hw * c * c * 9
    with torch.no_grad():
        sec = seconds_per_call(lambda: torch.nn.functional.conv2d(x, w, padding=1), device, seconds)
    return flops / sec


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int, seconds: float) -> float:
    gen = torch.Generator(device=device).manual_seed(1)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    return 2.0 * n**3 / seconds_per_call(lambda: a @ b, device, seconds)


def section_limits(device: torch.device, tiny: bool) -> dict:
    size = (2, 16, 32) if tiny else (32, 256, 128)  # 626 GFLOP per conv on the GPU
    secs = 0.05 if tiny else 1.5
    out: dict = {"conv_shape_nchw": [size[0], size[1], size[2], size[2]], "kernel": "3x3, stride 1, padding 1"}
    rates = {}
    tf32_before = torch.backends.cudnn.allow_tf32
    try:
        for label, dtype, tf32 in (
            ("bf16", torch.bfloat16, True),
            ("fp32", torch.float32, True),  # cuDNN's default: TF32 tensor cores allowed (as in fp32 training)
            ("fp32_strict", torch.float32, False),
        ):
            torch.backends.cudnn.allow_tf32 = tf32
            for cl in (False, True):
                key = f"{label}_{'nhwc' if cl else 'nchw'}"
                rates[key] = conv_rate(device, dtype, cl, size, secs)
                print(f"  conv {key}: {rates[key] / 1e12:.2f} TFLOP/s", flush=True)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32_before
    out["conv_tflops"] = {k: round(v / 1e12, 3) for k, v in rates.items()}
    out["limit_tflops"] = {
        label: max(rates[f"{label}_nchw"], rates[f"{label}_nhwc"]) / 1e12 for label in ("bf16", "fp32", "fp32_strict")
    }
    n = 256 if tiny else 8192
    mm = matmul_rate(device, torch.bfloat16, n, secs)
    out["matmul_bf16_tflops"] = round(mm / 1e12, 3)
    out["matmul_n"] = n
    print(f"  matmul bf16 {n}^3: {mm / 1e12:.1f} TFLOP/s; conv limits {out['limit_tflops']} TFLOP/s", flush=True)
    # RRDBNet's own layer shapes, TF32 as cuDNN's default (what fp32 training uses).
    batch, side, feat, grow = (2, 8, 8, 4) if tiny else (12, 64, 64, 32)
    out["rrdb_shape"] = f"batch {batch}, {side}x{side} maps, {feat} features, {grow} growth"
    out["rrdb_limit_tflops"] = {
        label: yardstick.rrdb_rate(device, dtype, secs * 2, batch, side, feat, grow) / 1e12
        for label, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32))
    }
    for label, rate in out["rrdb_limit_tflops"].items():
        print(
            f"  at RRDBNet's layer shapes ({out['rrdb_shape']}) {label}: {rate:.2f} TFLOP/s, "
            f"{rate / out['limit_tflops'][label]:.1%} of the {label} conv limit",
            flush=True,
        )
    return out


# ---------------------------------------------------------------------------------------------
# 2. Tests


def section_tests(out_dir: Path, timeout: float) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        "gpu",
        "-q",
        "-rA",
        "-p",
        "no:cacheprovider",
        f"--junitxml={out_dir / 'pytest_gpu.xml'}",
        "tests/test_gpu.py",
        "tests/test_degrade_pipeline.py",
    ]
    log = out_dir / "pytest_gpu.log"
    t0 = time.monotonic()
    with open(log, "w", encoding="utf-8") as fh:
        try:
            rc = subprocess.run(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = None
    text = log.read_text(encoding="utf-8", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    summary = lines[-1] if lines else ""
    for ln in lines[-40:]:
        if ln.startswith(("PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL")):
            print(f"  {ln}", flush=True)
    print(f"  {summary}", flush=True)
    status = "ok" if rc == 0 else ("timed out" if rc is None else f"pytest exit code {rc}")
    return {"status": status, "summary": summary, "seconds": round(time.monotonic() - t0, 1), "log": log.name}


# ---------------------------------------------------------------------------------------------
# 3. Training


def make_images(folder: Path, count: int, side: int) -> list[Path]:
    """Seeded natural-ish test images (smooth colour fields, edges, texture): no files from outside."""
    from replication.imageio import write_image

    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(1234)
    paths = []
    for i in range(count):
        smooth = torch.nn.functional.interpolate(
            torch.rand(1, 3, 8, 8, generator=gen), size=(side, side), mode="bicubic", align_corners=False
        )
        yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
        stripes = (torch.sin(xx * (0.05 + 0.02 * i) + yy * 0.03) > 0).float()[None, None] * 0.25
        texture = torch.rand(1, 1, side, side, generator=gen) * 0.1
        img = (0.7 * smooth + stripes + texture).clamp(0, 1)
        path = folder / f"img{i:02d}.png"
        write_image(path, img)
        paths.append(path)
    return paths


def make_store(tmp: Path, crop: int, count: int = 6) -> Path:
    from replication.data.config import DataConfig
    from replication.data.prepare import prepare_subimages

    src = tmp / "images"
    files = make_images(src, count, 2 * crop)
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
    out = tmp / f"store_{crop}"
    prepare_subimages({"t": files}, {"t": src}, cfg, out, workers=1, progress=False)
    return out


def time_trainer(t, phase: str, steps: int, warmup: int, flops: bool) -> dict:
    """Seconds per training step with the GT batches already on the device; synthesis and GT reading
    timed on their own; FLOPs of one step (and of its synthesis alone) when ``flops``."""
    from torch.utils.flop_counter import FlopCounterMode

    from replication.train.loop import gan_step, net_step, next_gt_batch

    step_fn = net_step if phase == "net" else gan_step
    synth_fn = t.synth.net_pair if phase == "net" else t.synth.gan_triplet
    dev = t.device
    read_sec = seconds_per_call(lambda: next_gt_batch(t), dev, 0.0, warmup=1)  # 3 reads, median
    gts = [next_gt_batch(t) for _ in range(4)]
    # Fill the training-pair pool first: a full pool also shuffles on every call, as in a long run.
    for i in range(math.ceil(t.synth.pool.size / t.cfg.batch_size)):
        synth_fn(gts[i % 4])
    for i in range(warmup):
        step_fn(t, gts[i % 4])
    sync(dev)
    t0 = time.perf_counter()
    for i in range(steps):
        step_fn(t, gts[i % 4])
    sync(dev)
    step_sec = (time.perf_counter() - t0) / steps
    t0 = time.perf_counter()
    for i in range(steps):
        synth_fn(gts[i % 4])
    sync(dev)
    synth_sec = (time.perf_counter() - t0) / steps
    out = {"step_s": step_sec, "synth_s": synth_sec, "read_gt_s": read_sec}
    if dev.type == "cuda":
        out["max_memory_gib"] = round(torch.cuda.max_memory_allocated(dev) / 2**30, 2)
    if flops:
        with FlopCounterMode(display=False) as counter:
            step_fn(t, gts[0])
        with FlopCounterMode(display=False) as synth_counter:
            synth_fn(gts[0])
        out["step_flops"] = counter.get_total_flops()
        out["synth_flops"] = synth_counter.get_total_flops()
    return out


def section_train(device: torch.device, tmp: Path, tiny: bool, budget: Budget, limits: dict) -> dict:
    params = write_params(tmp, "paper", batch_size=2 if tiny else 12, gt_size=32 if tiny else 256, tiny=tiny)
    crop = TINY_GT_CROP if tiny else 400  # the profile's degradation.gt_crop
    t0 = time.monotonic()
    store = make_store(tmp, crop)
    print(f"  training store of {crop}px sub-images made in {time.monotonic() - t0:.1f} s", flush=True)
    steps, warmup = (2, 1) if tiny else (10, 3)
    rows = []
    flops: dict[str, dict] = {}
    for phase in ("net", "gan"):
        for label, amp, cl in PRECISIONS:
            # keep about 40 s for the inference section and the projection after this one
            if budget.left() < (3 if tiny else 70):
                rows.append({"phase": phase, "precision": label, "status": "skipped: budget"})
                print(f"  {phase} {label}: skipped (budget)", flush=True)
                continue
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            b0 = time.monotonic()
            t = build(params, store, phase, device.type, amp, cl)
            build_s = time.monotonic() - b0
            r = time_trainer(t, phase, steps, warmup, flops=phase not in flops)
            if "step_flops" in r:
                flops[phase] = {"step": r.pop("step_flops"), "synth": r.pop("synth_flops")}
            del t
            row = {"phase": phase, "precision": label, "amp": amp, "channels_last": cl, "build_s": round(build_s, 1)}
            row.update(r)
            rows.append(row)
            print(
                f"  {phase} {label:18s} {r['step_s'] * 1e3:8.1f} ms/step, synthesis {r['synth_s'] * 1e3:6.1f} ms "
                f"({r['synth_s'] / r['step_s']:.0%} of the step), GT read {r['read_gt_s'] * 1e3:6.1f} ms",
                flush=True,
            )
    limit = limits.get("limit_tflops", {})
    rrdb_limit = limits.get("rrdb_limit_tflops", {})
    for row in rows:
        if "step_s" not in row or row["phase"] not in flops:
            continue
        f = flops[row["phase"]]
        row["step_gflop"] = round(f["step"] / 1e9, 3)
        row["synth_gflop"] = round(f["synth"] / 1e9, 2)
        row["achieved_tflops"] = f["step"] / row["step_s"] / 1e12
        row["synth_fraction"] = round(row["synth_s"] / row["step_s"], 4)
        key = "bf16" if row["amp"] == "bf16" else "fp32"
        if key in limit:
            row["fraction_of_conv_limit"] = row["achieved_tflops"] / limit[key]
            row["limit_used"] = key
        # Real-ESRNet's step is RRDBNet's; the GAN step's FLOPs are mostly VGG19's and the U-Net's wide
        # convolutions, for which the 256-channel limit is the yardstick.
        if key in rrdb_limit and row["phase"] == "net":
            row["fraction_of_rrdb_limit"] = row["achieved_tflops"] / rrdb_limit[key]
    out = {"rows": rows, "params": "paper profile, batch 12, GT 256 (LR 64), untrained VGG19, scratch init"}
    if tiny:
        out["params"] = (
            "tiny: paper profile with a 1-block RRDBNet (8 features), batch 2, GT 32 from 128 px crops, pool 4"
        )
    out["store"] = str(store)
    out["params_path"] = str(params)
    return out


def child_step(args: argparse.Namespace) -> None:
    """(child process) Build one trainer, compiled as ``--compile-mode`` says, time it; print one JSON line.

    ``whole``: the trainer's own ``--compile`` (the whole generator). ``regional``: each RRDB block
    compiled on its own; the 23 blocks are one module class with one input shape, so PyTorch compiles
    one block's graph and reuses it (much shorter compilation). ``none``: eager. A backend other than
    inductor (``aot_eager`` in the CPU test) applies to both, the trainer's own compile included.
    """
    if args.compile_backend != "inductor":
        import functools

        torch.compile = functools.partial(torch.compile, backend=args.compile_backend)
    device = torch.device(args.device)
    t0 = time.monotonic()
    t = build(
        Path(args.params), Path(args.store), args.phase, device.type, args.amp, args.channels_last,
        args.compile_mode == "whole",
    )  # fmt: skip
    if args.compile_mode == "regional":
        for block in t.g.body:
            block.compile()
    steps, warmup = (2, 1) if args.tiny else (10, 3)
    from replication.train.loop import gan_step, net_step, next_gt_batch

    step_fn = net_step if args.phase == "net" else gan_step
    gts = [next_gt_batch(t) for _ in range(4)]
    w0 = time.monotonic()
    for i in range(warmup):
        step_fn(t, gts[i % 4])
    sync(device)
    warm_s = time.monotonic() - w0
    t1 = time.perf_counter()
    for i in range(steps):
        step_fn(t, gts[i % 4])
    sync(device)
    step_s = (time.perf_counter() - t1) / steps
    result = {"step_s": step_s, "warmup_s": warm_s, "build_s": w0 - t0}
    print("CHILD_RESULT " + json.dumps(result), flush=True)


def run_child(
    mode: str, best: dict, train: dict, device: torch.device, args: argparse.Namespace, timeout: float, log: Path
) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-step", "--device", device.type]
    cmd += ["--params", train["params_path"], "--store", train["store"], "--phase", "net", "--amp", best["amp"]]
    cmd += ["--compile-mode", mode] + (["--channels-last"] if best["channels_last"] else [])
    cmd += ["--compile-backend", args.compile_backend] + (["--tiny"] if args.tiny else [])
    with open(log, "w", encoding="utf-8") as fh:
        try:
            proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=fh, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"mode": mode, "status": f"timed out after {timeout:.0f} s (compilation did not fit)"}
    found = [ln for ln in proc.stdout.splitlines() if ln.startswith("CHILD_RESULT ")]
    if proc.returncode != 0 or not found:
        return {"mode": mode, "status": f"error: child exit code {proc.returncode} (see {log.name})"}
    res = {"mode": mode, "status": "ok", "backend": args.compile_backend, **json.loads(found[-1].split(" ", 1)[1])}
    res["eager_step_s"] = best["step_s"]
    res["speedup"] = round(best["step_s"] / res["step_s"], 3)
    print(
        f"  torch.compile {mode} (net {best['precision']}): {res['step_s'] * 1e3:.1f} ms/step vs eager "
        f"{best['step_s'] * 1e3:.1f} ({res['speedup']:.2f}x); warm-up incl. compilation {res['warmup_s']:.0f} s",
        flush=True,
    )
    return res


def section_compile(device: torch.device, train: dict, args: argparse.Namespace, budget: Budget, out_dir: Path) -> dict:
    """Regional compilation first (quick to compile), then the whole generator if time is left."""
    rows = [r for r in train.get("rows", []) if r.get("phase") == "net" and "step_s" in r]
    if not rows:
        return {"status": "skipped: no Real-ESRNet rows to compare with"}
    best = min(rows, key=lambda r: r["step_s"])
    runs = []
    for mode, needs in (("regional", 0), ("whole", 0)) if args.tiny else (("regional", 60), ("whole", 120)):
        left = budget.left() - (3 if args.tiny else 20)
        if left < needs:
            runs.append({"mode": mode, "status": f"skipped: {left:.0f} s left"})
            continue
        runs.append(run_child(mode, best, train, device, args, max(10.0, left), out_dir / f"compile_{mode}.log"))
    ok = [r for r in runs if r["status"] == "ok"]
    out: dict = {"config": f"net {best['precision']}", "runs": runs}
    if ok:
        fastest = min(ok, key=lambda r: r["step_s"])
        out.update(best_mode=fastest["mode"], speedup=fastest["speedup"], pays=bool(fastest["speedup"] > 1.05))
        out.update(step_s=fastest["step_s"], eager_step_s=best["step_s"], warmup_s=fastest["warmup_s"])
    if not ok:
        out["status"] = "not measured: " + "; ".join(f"{r['mode']}: {r['status']}" for r in runs)
    return out


# ---------------------------------------------------------------------------------------------
# 4. Inference


def section_inference(device: torch.device, tiny: bool, limits: dict) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    from replication.archs.infer import upscale_tensor
    from replication.archs.registry import build_arch

    feat, blocks, grow = (8, 1, 4) if tiny else (64, 23, 32)
    net = build_arch(
        "rrdbnet", num_in_ch=3, num_out_ch=3, scale=4, num_feat=feat, num_block=blocks, num_grow_ch=grow, seed=0
    )
    net = net.to(device).eval()
    rows = []
    limit = limits.get("limit_tflops", {})
    for out_px in (64, 128) if tiny else (512, 1024):
        side = out_px // 4
        x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(side)).to(device)
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            net(x)
        flop = counter.get_total_flops()
        for label, dtype, cl in (
            ("fp32", None, False),
            ("fp32 channels-last", None, True),
            ("bf16 channels-last", torch.bfloat16, True),
        ):
            sec = seconds_per_call(
                lambda x=x, dtype=dtype, cl=cl: upscale_tensor(net, x, dtype=dtype, channels_last=cl),
                device,
                0.05 if tiny else 1.0,
            )
            tflops = flop / sec / 1e12
            key = "bf16" if dtype is not None else "fp32"
            row = {
                "output_px": out_px,
                "precision": label,
                "seconds": sec,
                "mp_per_s": round(out_px * out_px / 1e6 / sec, 4),
                "achieved_tflops": tflops,
                "gflop": round(flop / 1e9, 1),
            }
            if key in limit:
                row["fraction_of_conv_limit"] = tflops / limit[key]
            rows.append(row)
            print(f"  {out_px}px {label:18s} {row['mp_per_s']:8.2f} MP/s ({tflops:.1f} TFLOP/s)", flush=True)
    return {"rows": rows, "weights": "seeded random init (speed does not depend on the values)"}


# ---------------------------------------------------------------------------------------------
# 5. The official training step


def section_official(device: torch.device, tmp: Path, train: dict, tiny: bool, folder: Path | None) -> dict:
    """The official step of both phases (fp32, its only precision) beside ours, same device, same GT
    batches (read by our fp32 trainer), same pool rule."""
    off, why = official_code.load(folder)
    if off is None:
        return {"status": f"not measured: {why}"}
    if "params_path" not in train:
        return {"status": "skipped: the train section did not run"}
    params, store = Path(train["params_path"]), Path(train["store"])
    steps = 2 if tiny else 10
    rows = []
    for phase in ("net", "gan"):
        if device.type == "cuda":
            torch.cuda.empty_cache()
        t = build(params, store, phase, device.type, "none", False)
        sec = time_official(off, params, phase, t, steps, tmp)
        del t
        ours = {r["precision"]: r for r in train.get("rows", []) if r.get("phase") == phase and "step_s" in r}
        row: dict = {"phase": phase, "official_fp32_step_s": sec}
        if "fp32" in ours:
            row.update(ours_fp32_step_s=ours["fp32"]["step_s"], speedup_fp32=sec / ours["fp32"]["step_s"])
        if ours:
            best = min(ours.values(), key=lambda r: r["step_s"])
            row.update(ours_best=best["precision"], ours_best_step_s=best["step_s"], speedup_best=sec / best["step_s"])
        rows.append(row)
        print(
            f"  official {phase} fp32: {sec * 1e3:.1f} ms/step; ours fp32 "
            f"{row.get('speedup_fp32', float('nan')):.2f}x, ours best ({row.get('ours_best', '-')}) "
            f"{row.get('speedup_best', float('nan')):.2f}x",
            flush=True,
        )
    return {"rows": rows, "official": off.version}


# ---------------------------------------------------------------------------------------------
# 7. Projection


def section_projection(train: dict) -> dict:
    best: dict[str, dict] = {}
    for r in train.get("rows", []):
        if "step_s" in r and (r["phase"] not in best or r["step_s"] < best[r["phase"]]["step_s"]):
            best[r["phase"]] = r
    if set(best) != {"net", "gan"}:
        return {"status": "skipped: training rows missing"}
    out: dict = {"gpus": PAPER_GPUS, "iters": PAPER_ITERS, "batch_per_gpu": 12, "total_batch": PAPER_TOTAL_BATCH}
    total = total_with_read = 0.0
    for phase, r in best.items():
        total += PAPER_ITERS[phase] * r["step_s"]
        total_with_read += PAPER_ITERS[phase] * (r["step_s"] + r["read_gt_s"])
        out[f"{phase}_config"] = r["precision"]
        out[f"{phase}_step_s"] = r["step_s"]
    out["hours"] = round(total / 3600, 1)
    out["hours_with_gt_reading_in_line"] = round(total_with_read / 3600, 1)
    # Total batch 48 on n GPUs: 48 / (12 n) micro-batches of 12 per GPU and iteration (gradient
    # accumulation for n < 4); on 8 GPUs a micro-batch of 6, assumed to take half the time of 12.
    out["hours_by_gpus"] = {str(n): round(total * PAPER_GPUS / n / 3600, 1) for n in PROJECTED_GPUS}
    out["assumes"] = (
        "total batch 48 per iteration; each GPU runs micro-batches of 12 at the single-GPU step time measured "
        "here, 4/n of them per iteration on n GPUs (gradient accumulation below 4 GPUs; on 8 GPUs a micro-batch "
        "of 6 taking half the time: not measured); gradient all-reduce is not measured (about 67 MB of fp32 "
        "generator gradients per step); the first figure has GT batches ready on the GPU, the second reads "
        "them in the training process in line"
    )
    print(
        f"  projected on 4 GPUs {out['hours']} h ({out['hours_with_gt_reading_in_line']} h with GT reading in line); "
        f"on 1 / 4 / 8 GPUs: {' / '.join(f'{h} h' for h in out['hours_by_gpus'].values())}",
        flush=True,
    )
    return out


# ---------------------------------------------------------------------------------------------
# Report


def environment(device: torch.device) -> dict:
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "device": str(device),
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(gpu=props.name, sm_count=props.multi_processor_count, memory_gib=round(props.total_memory / 2**30))
        with contextlib.suppress(Exception):
            q = "name,driver_version,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu"
            env["nvidia_smi"] = subprocess.run(
                ["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
            ).stdout.strip()
    return env


def markdown(results: dict) -> str:
    env = results["environment"]
    lines = [
        f"# GPU check: {env.get('gpu', env['device'])}",
        "",
        f"torch {env['torch']}, CUDA {env['cuda']}, cuDNN {env['cudnn']}; {results.get('mode', '')}",
        "",
    ]
    lim = results.get("limits", {})
    if "limit_tflops" in lim:
        lines += [
            "## Limits (3x3 conv " + "x".join(map(str, lim["conv_shape_nchw"])) + ", best layout)",
            "",
            "| | TFLOP/s |",
            "|---|---|",
        ]
        lines += [f"| conv {k} | {v:.4g} |" for k, v in lim["limit_tflops"].items()]
        lines += [
            f"| conv {k} at RRDBNet's layer shapes ({lim['rrdb_shape']}) | {v:.4g} |"
            for k, v in lim.get("rrdb_limit_tflops", {}).items()
        ]
        lines += [f"| matmul bf16 {lim['matmul_n']}^3 | {lim['matmul_bf16_tflops']} |", ""]
    tests = results.get("tests", {})
    lines += [f"## CUDA tests: {tests.get('status')}", "", f"`{tests.get('summary', '')}`", ""]
    train = results.get("train", {})
    if train.get("rows"):
        lines += [
            f"## Training steps ({train.get('params')})",
            "",
            "| phase | precision | ms/step | synthesis ms (share) | GT read ms (share) | GFLOP/step | TFLOP/s "
            "| of conv limit | of RRDB-shape limit | GiB |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in train["rows"]:
            if "step_s" not in r:
                lines.append(f"| {r['phase']} | {r['precision']} | {r['status']} | | | | | | | |")
                continue
            frac = r.get("fraction_of_conv_limit")
            frac_text = f"{frac:.1%} ({r.get('limit_used')})" if frac is not None else "-"
            rrdb = r.get("fraction_of_rrdb_limit")
            rrdb_text = f"{rrdb:.1%}" if rrdb is not None else "-"
            lines.append(
                f"| {r['phase']} | {r['precision']} | {r['step_s'] * 1e3:.1f} | {r['synth_s'] * 1e3:.1f} "
                f"({r['synth_s'] / r['step_s']:.0%}) | {r['read_gt_s'] * 1e3:.1f} "
                f"({r['read_gt_s'] / (r['step_s'] + r['read_gt_s']):.0%} if in line) | {r.get('step_gflop', '-')} | "
                f"{r.get('achieved_tflops', 0):.3g} | {frac_text} | {rrdb_text} | {r.get('max_memory_gib', '-')} |"
            )
        lines.append("")
    off = results.get("official", {})
    lines += [f"## Official BasicSR/Real-ESRGAN step: {off.get('status')}", ""]
    for r in off.get("rows", []):
        lines.append(
            f"- {r['phase']}: official fp32 {r['official_fp32_step_s'] * 1e3:.1f} ms/step ({off['official']}); ours fp32 "
            f"{r.get('speedup_fp32', float('nan')):.2f}x, ours {r.get('ours_best', '-')} "
            f"{r.get('speedup_best', float('nan')):.2f}x"
        )
    lines.append("")
    comp = results.get("compile", {})
    lines += [f"## torch.compile: {comp.get('status')}", ""]
    for r in comp.get("runs", []):
        if r["status"] == "ok":
            lines.append(
                f"- {comp['config']}, {r['mode']}: {r['step_s'] * 1e3:.1f} ms/step vs {r['eager_step_s'] * 1e3:.1f} "
                f"eager ({r['speedup']}x); warm-up incl. compilation {r['warmup_s']:.0f} s"
            )
        else:
            lines.append(f"- {r['mode']}: {r['status']}")
    net_official = next((r for r in off.get("rows", []) if r["phase"] == "net"), None)
    if net_official and comp.get("step_s"):
        ratio = net_official["official_fp32_step_s"] / comp["step_s"]
        lines.append(f"- compiled ({comp['best_mode']}) vs the official fp32 Real-ESRNet step: {ratio:.2f}x")
    lines.append("")
    inf = results.get("inference", {})
    if inf.get("rows"):
        lines += [
            "## Inference (RRDBNet x4, whole image)",
            "",
            "| output | precision | MP/s | TFLOP/s | of conv limit |",
        ]
        lines.append("|---|---|---|---|---|")
        for r in inf["rows"]:
            frac = r.get("fraction_of_conv_limit")
            frac_text = f"{frac:.1%}" if frac is not None else "-"
            lines.append(
                f"| {r['output_px']} px | {r['precision']} | {r['mp_per_s']} | {r['achieved_tflops']:.3g} "
                f"| {frac_text} |"
            )
        lines.append("")
    proj = results.get("projection", {})
    if "hours" in proj:
        lines += [
            "## Projection: 1000k Real-ESRNet + 400k Real-ESRGAN iterations, total batch 48",
            "",
            f"On 4 GPUs {proj['hours']} h ({proj['net_config']} / {proj['gan_config']}); "
            f"{proj['hours_with_gt_reading_in_line']} h with GT reading in line. On 1 / 4 / 8 GPUs: "
            + " / ".join(f"{h} h" for h in proj["hours_by_gpus"].values())
            + f". Assumes: {proj['assumes']}.",
            "",
        ]
    skipped = [
        f"{k}: {v['status']}" for k, v in results.items() if isinstance(v, dict) and v.get("status", "ok") != "ok"
    ]
    if skipped:
        lines += ["## Not ok", ""] + [f"- {s}" for s in skipped] + [""]
    return "\n".join(lines)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or ROOT / "benchmarks" / "out"))
    ap.add_argument("--budget", type=float, default=420.0, help="seconds for all sections together (default 420)")
    ap.add_argument("--tiny", action="store_true", help="tiny networks and sizes: checks the code in seconds")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu (with --tiny: the CPU test)")
    ap.add_argument(
        "--compile-backend",
        default="inductor",
        help="torch.compile backend of the compile section (default inductor; aot_eager on the CPU test)",
    )
    ap.add_argument("--official", type=Path, help=f"official code folder (default: ${official_code.ENV})")
    ap.add_argument("--dry-run", action="store_true", help="short for --tiny --device cpu --compile-backend aot_eager")
    ap.add_argument("--skip", default="", help="comma list of sections to skip (limits,tests,train,official,...)")
    # child mode (used by the compile section)
    ap.add_argument("--child-step", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    ap.add_argument("--phase", default="net", help=argparse.SUPPRESS)
    ap.add_argument("--amp", default="bf16", help=argparse.SUPPRESS)
    ap.add_argument("--channels-last", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--compile-mode", choices=("none", "regional", "whole"), default="none", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.dry_run:
        args.tiny, args.device, args.compile_backend = True, "cpu", "aot_eager"
    if args.child_step:
        child_step(args)
        return 0

    budget = Budget(args.budget)
    if args.device == "cpu":
        if not args.tiny:
            print("error: --device cpu runs only with --tiny (the full sizes take hours on a CPU)", file=sys.stderr)
            return 2
        device = torch.device("cpu")
        torch.set_num_threads(1)
    else:
        if not torch.cuda.is_available():
            print("error: no CUDA device (use --dry-run to check the script on the CPU)", file=sys.stderr)
            return 2
        device = torch.device(args.device)
        device = torch.device(device.type, 0 if device.index is None else device.index)
    skip = set(filter(None, args.skip.split(",")))
    out_dir = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    tiny = args.tiny
    results: dict = {"mode": f"TINY on {device} (figures meaningless)" if tiny else "full check"}
    results["environment"] = environment(device)
    print(json.dumps(results["environment"]), flush=True)

    def save() -> None:
        write_atomic(out_dir / "gpu_check.json", json.dumps(results, indent=1, default=str) + "\n")
        write_atomic(out_dir / "gpu_check.md", markdown(results))

    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmpdir:
        tmp = Path(tmpdir)
        results.setdefault("limits", {})
        tests_timeout = max(30.0, min(120.0, budget.left() - 240))
        sections = [
            ("limits", 5 if tiny else 40, lambda: section_limits(device, tiny)),
            ("tests", 5 if tiny else 60, lambda: section_tests(out_dir, tests_timeout)),
            ("train", 5 if tiny else 120, lambda: section_train(device, tmp, tiny, budget, results["limits"])),
            (
                "official",
                5 if tiny else 40,
                lambda: section_official(device, tmp, results.get("train", {}), tiny, args.official),
            ),
            ("inference", 3 if tiny else 25, lambda: section_inference(device, tiny, results["limits"])),
            (
                "compile",
                3 if tiny else 60,
                lambda: section_compile(device, results.get("train", {}), args, budget, out_dir),
            ),
            ("projection", 0, lambda: section_projection(results.get("train", {}))),
        ]
        for name, needs, fn in sections:
            if name in skip:
                results[name] = {"status": "skipped: --skip"}
                continue
            run_section(name, results, budget, needs, fn)
            save()
    results["seconds_left_of_budget"] = round(budget.left(), 1)
    save()
    print("\n" + markdown(results), flush=True)
    bad = [k for k, v in results.items() if isinstance(v, dict) and str(v.get("status", "ok")).startswith("error")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
