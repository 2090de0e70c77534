"""Data preparation and sub-image reading speed, measured side by side (ratios), on mirror photos.

    python benchmarks/bench_data.py [--quick] [--tiny] [--mirror DIR]

Rows: ``prepare`` with 1 process vs all cores (the process pool's speed-up), and reading every
sub-image through ``SubImageStore`` (tar shards, one ``pread`` each) vs the same PNGs as loose files
(``imageio.read_image``), plus the store's start-up from ``index.tsv`` vs scanning the tar headers. Timings depend on the load
of the machine: run it when the machine is otherwise idle, and compare ratios, not seconds.
``--tiny``: 2 images, 400 px crops with no overlap and no multi-scale copies: every row in seconds,
for the CPU test (its figures mean nothing).
"""

from __future__ import annotations

import argparse
import os
import resource
import tarfile
import tempfile
import time
from pathlib import Path

from replication.data.config import DataConfig
from replication.data.prepare import default_workers, prepare_subimages
from replication.params import load_params

# torch-importing modules (SubImageStore, imageio) are imported inside main(): spawned prepare
# workers re-import this file, and should pay only what `replication prepare`'s workers pay.


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the pool's workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _time(fn) -> tuple[float, object, float]:
    c0, t0 = _cpu(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out, _cpu() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="4 images, smaller crops")
    ap.add_argument("--tiny", action="store_true", help="2 images, no overlap, no multi-scale copies")
    ap.add_argument("--mirror", default=None, help="mirror folder (default: from params.yaml / $REPLICATION_MIRROR)")
    args = ap.parse_args()
    from replication.data.subimages import SubImageStore
    from replication.imageio import read_image

    mirror = Path(args.mirror) if args.mirror else load_params("params.yaml").mirror_dir()
    folder = mirror / "datasets" / "sample-hr-cc0"
    files = sorted(folder.glob("*.png"))
    if args.quick or args.tiny:
        files = files[: 2 if args.tiny else 4]
    cfg = DataConfig(
        train_sets=("sample-hr-cc0",),
        multiscale_sets=() if args.tiny else ("sample-hr-cc0",),
        multiscale_factors=(0.75, 0.5, 1 / 3),
        multiscale_shortest_edge=0 if args.tiny else 400,
        crop_size=200 if args.quick else 400,
        crop_step=100 if args.quick else 400 if args.tiny else 200,
        thresh_size=0,
        shard_size=1000,
    )
    cores = default_workers()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        images = {"sample-hr-cc0": files}
        roots = {"sample-hr-cc0": folder}
        t1, s1, c1 = _time(lambda: prepare_subimages(images, roots, cfg, tmp / "w1", workers=1, progress=False))
        tn, _, cn = _time(lambda: prepare_subimages(images, roots, cfg, tmp / "wn", workers=cores, progress=False))
        rows.append((f"prepare {len(files)} images -> {s1.sub_images} sub-images, 1 process", t1, 1.0, c1))
        rows.append((f"prepare, {cores} processes (spawn start-up included)", tn, t1 / tn, cn))

        t_index, store, c_index = _time(lambda: SubImageStore(tmp / "w1"))
        loose = tmp / "loose"
        for shard in sorted((tmp / "w1" / "shards").iterdir()):
            with tarfile.open(shard) as tf:
                tf.extractall(loose, filter="data")
        loose_files = sorted(p for p in loose.rglob("*.png"))
        n = len(store)
        os.sync()
        t_loose, _, c_loose = _time(lambda: [read_image(p) for p in loose_files])
        t_store, _, c_store = _time(lambda: [store.read(i) for i in range(n)])
        rows.append((f"read {n} sub-images as loose PNG files", t_loose, 1.0, c_loose))
        rows.append(
            (
                f"read {n} sub-images from {len(list((tmp / 'w1' / 'shards').iterdir()))} tar shard(s)",
                t_store,
                t_loose / t_store,
                c_store,
            )
        )
        t_scan, _, c_scan = _time(lambda: SubImageStore(tmp / "w1", use_index=False))
        rows.append((f"SubImageStore start-up, scanning {n} tar headers", t_scan, 1.0, c_scan))
        rows.append((f"SubImageStore start-up, from index.tsv ({n} lines)", t_index, t_scan / t_index, c_index))
    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'wall s':>8}  {'speed-up':>8}  {'cpu s':>8}")
    for name, secs, ratio, cpu in rows:
        print(f"{name:<{width}}  {secs:8.3f}  {ratio:8.2f}  {cpu:8.3f}")
    print(
        f"\ncores usable: {cores}; load average at the end: {os.getloadavg()[0]:.2f} "
        "(a shared machine skews wall seconds; cpu s = this process + its workers)"
    )


if __name__ == "__main__":
    main()
