"""The GT read's share of a training step, read in line vs read ahead (``replication train --read-workers``).

    python benchmarks/bench_reader.py [--quick] [--profile smoke|study] [--phase net|gan] [--steps N]
                                      [--workers 0,1,2] [--batch N] [--threads N] [--device cpu|cuda]

Builds the trainer as ``replication train`` does, on sub-images cut from six mirror photos as the
profile's ``data:`` section cuts them (400 px), and runs whole training steps. Per row (one reader worker count, all
rows in one run, side by side): seconds per step, the seconds the loop waits for its GT batches, and
that wait as a share of the step. With 0 workers the wait is the whole read (PNG decode, flip, crop,
stack) in line with the step, the trainer before the read-ahead reader; with workers the read of the
next batches overlaps the step. The in-line read of one batch alone (median of a few) is printed too.
``--quick``: a few steps at the smoke profile, small sub-images (the CPU test runs it). Timings move
with the machine's load: the load average is printed at the start and the end; compare rows of one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_store(out: Path, profile: str, photos: int, crop: int | None = None) -> Path:
    """Sub-images of ``photos`` mirror photos, cut as ``profile``'s ``data:`` section cuts them
    (``crop``: a smaller crop size and step, for --quick); no multi-scale copies."""
    import dataclasses

    from replication.data.prepare import prepare_subimages
    from replication.params import load_params

    params = load_params(ROOT / "params.yaml")
    src = params.mirror_dir() / "datasets" / "sample-hr-cc0"
    files = sorted(src.glob("*.png"))[:photos]
    cfg = dataclasses.replace(params.profiles[profile].data, train_sets=("t",), multiscale_sets=())
    if crop:
        cfg = dataclasses.replace(cfg, crop_size=crop, crop_step=crop)
    prepare_subimages({"t": files}, {"t": src}, cfg, out, workers=1, progress=False)
    return out


def write_params(tmp: Path, profile: str, batch: int | None) -> Path:
    """params.yaml with ``profile`` active, scratch init, untrained VGG, no logging or checkpoints."""
    from replication.params import Profile
    from replication.report.config import expected_pipeline_lists
    from replication.strict import from_dict, to_dict
    from replication.train.config import VariantConfig

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["profile"] = profile
    raw["mirror"] = ""
    prof = raw["profiles"][profile]
    prof["network"]["net_init"] = "scratch"
    for phase in ("train_net", "train_gan"):
        prof[phase].update(vgg_weights="untrained", iters=10**6, ckpt_every=10**6, log_every=10**6, sample_every=10**6)
        if batch:
            prof[phase]["batch_size"] = batch
            prof["degradation"]["pool_size"] = batch * 2
    variants = {k: from_dict(VariantConfig, v) for k, v in raw["variants"].items()}
    raw["pipeline"] = to_dict(expected_pipeline_lists(from_dict(Profile, prof), variants, profile))
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_row(params: Path, data: Path, tmp: Path, phase: str, device: str, workers: int, steps: int) -> dict:
    from replication.train import distributed
    from replication.train.loop import RunOptions, build_trainer, gan_step, net_step, next_gt_batches, preflight

    opts = RunOptions(
        params_path=params,
        profile=None,
        variant="full",
        phase=phase,  # type: ignore[arg-type]
        data=data,
        out=tmp / f"run-{workers}",
        init="scratch",
        models_dir=tmp,
        vgg_weights=tmp / "none.pth",
        device=device,
        read_workers=workers,
    )
    t = build_trainer(preflight(opts), opts, distributed.setup(device))
    step_fn = net_step if phase == "net" else gan_step
    try:
        for _ in range(2):  # warm-up: allocator, oneDNN primitives, the reader's first batches
            step_fn(t, next_gt_batches(t))
        sync(t.device)
        wait = 0.0
        t0 = time.perf_counter()
        for _ in range(steps):
            w0 = time.perf_counter()
            gts = next_gt_batches(t)
            wait += time.perf_counter() - w0
            step_fn(t, gts)
        sync(t.device)
        total = (time.perf_counter() - t0) / steps
    finally:
        t.close()
    return {"workers": workers, "step": total, "wait": wait / steps}


def inline_read(params: Path, data: Path, tmp: Path, device: str, repeats: int) -> float:
    """Median seconds to read one GT batch in line (nothing else running in this process)."""
    from replication.train import distributed
    from replication.train.loop import RunOptions, build_trainer, next_gt_batches, preflight

    opts = RunOptions(
        params_path=params,
        profile=None,
        variant="full",
        phase="net",
        data=data,
        out=tmp / "run-read",
        init="scratch",
        models_dir=tmp,
        vgg_weights=tmp / "none.pth",
        device=device,
        read_workers=0,
    )
    t = build_trainer(preflight(opts), opts, distributed.setup(device))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        next_gt_batches(t)
        sync(t.device)
        times.append(time.perf_counter() - t0)
    t.close()
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke profile, 3 steps, small sub-images (the CPU test)")
    ap.add_argument("--profile", choices=("smoke", "study"), default="study")
    ap.add_argument("--phase", choices=("net", "gan"), default="net")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per row (default 20; --quick 3)")
    ap.add_argument("--workers", default="0,1,2", help="comma list of reader worker counts (0: read in line)")
    ap.add_argument("--batch", type=int, help="batch_size (default: the profile's)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: PyTorch's choice)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    profile = "smoke" if args.quick else args.profile
    steps = args.steps or (3 if args.quick else 20)
    workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = make_store(tmp / "prepared", profile, photos=2 if args.quick else 6, crop=200 if args.quick else None)
        params = write_params(tmp, profile, args.batch)
        print(
            f"profile {profile} ({args.phase}), device {args.device}, {torch.get_num_threads()} threads, "
            f"{os.cpu_count()} cores, load average at start {os.getloadavg()}"
        )
        read = inline_read(params, data, tmp, args.device, repeats=3 if args.quick else 7)
        print(f"one GT batch read in line: {read * 1e3:.1f} ms (median)")
        print(f"{'workers':>8} {'s/step':>8} {'read wait ms':>13} {'read share':>11}")
        for w in workers:
            row = time_row(params, data, tmp, args.phase, args.device, w, steps)
            share = row["wait"] / row["step"]
            print(f"{w:>8} {row['step']:>8.3f} {row['wait'] * 1e3:>13.1f} {share:>10.1%}")
        print(f"load average at end {os.getloadavg()} (compare rows within this run)")


if __name__ == "__main__":
    main()
