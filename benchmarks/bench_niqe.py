"""NIQE speed: our vectorised implementation vs the loop-over-blocks references, side by side.

    python benchmarks/bench_niqe.py [--quick] [--tiny] [--repeats 5] [--basicsr-path DIR] [--mirror DIR]

Images: a 512x512 crop of a mirror photo and a 2040x1356 (DIV2K-sized) MATLAB-bicubic resize of
it. Implementations, timed in interleaved rounds (background load hits each alike), median and
minimum of the rounds after one warm-up call:

* ``ours f32``: :func:`replication.evaluate.niqe.niqe` (paper protocol, the default);
* ``ours f64``: the same in float64;
* ``pyiqa``: ``pyiqa.create_metric('niqe', color_space='ycbcr')`` (same algorithm; loops over blocks);
* ``basicsr``: ``basicsr.metrics.calculate_niqe(convert_to='y')`` when ``--basicsr-path`` points at
  an unpacked BasicSR source tree (not a project dependency; its package import needs a shim for
  torchvision >= 0.17, installed here for the duration of the run only).

Each row also gives the NIQE value, so the speed comparison is between equal results. Timings
depend on the machine's load: compare ratios, and say if the machine was shared. ``--tiny``: a
192x192 crop, one round: every implementation's path in seconds, for the CPU test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch


def _basicsr_niqe(path: Path) -> Callable[[torch.Tensor], float]:
    import torchvision.transforms.functional as tvf

    shim = types.ModuleType("torchvision.transforms.functional_tensor")
    shim.rgb_to_grayscale = tvf.rgb_to_grayscale
    sys.modules.setdefault("torchvision.transforms.functional_tensor", shim)
    import scipy.ndimage

    sys.modules.setdefault("scipy.ndimage.filters", scipy.ndimage)
    sys.path.insert(0, str(path))
    from basicsr.metrics.niqe import calculate_niqe  # type: ignore[import-not-found]

    def run(rgb: torch.Tensor) -> float:
        bgr = (rgb[0].permute(1, 2, 0).numpy()[:, :, ::-1] * 255).round().astype(np.uint8)
        return float(calculate_niqe(bgr, 0, input_order="HWC", convert_to="y"))

    return run


def _pyiqa_niqe(mirror: Path) -> Callable[[torch.Tensor], float]:
    from replication.evaluate.pyiqa_metrics import default_torch_home, offline_pyiqa

    with offline_pyiqa(default_torch_home()):
        import pyiqa

        metric = pyiqa.create_metric(
            "niqe",
            device="cpu",
            color_space="ycbcr",
            pretrained_model_path=str(mirror / "metrics" / "niqe_modelparameters.mat"),
        )
    return lambda rgb: float(metric(rgb))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="512x512 only, 3 rounds")
    ap.add_argument("--tiny", action="store_true", help="192x192 only, 1 round")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--basicsr-path", type=Path, help="unpacked BasicSR source tree (contains basicsr/)")
    ap.add_argument("--mirror", type=Path, help="mirror folder (default: from params.yaml / $REPLICATION_MIRROR)")
    ap.add_argument("--no-pyiqa", action="store_true")
    args = ap.parse_args()

    from replication.evaluate.matlab_resize import imresize
    from replication.evaluate.niqe import load_pristine_model, niqe
    from replication.imageio import read_image
    from replication.params import load_params

    mirror = args.mirror or load_params("params.yaml").mirror_dir()
    if mirror is None:
        raise SystemExit("no mirror: pass --mirror")
    model = load_pristine_model(mirror / "metrics" / "niqe_pris_params.npz")
    photo = read_image(mirror / "datasets" / "sample-hr-cc0" / "airplane.png").rgb
    side = 192 if args.tiny else 512
    images = {f"{side}x{side}": photo[..., 300 : 300 + side, 400 : 400 + side].contiguous()}
    if not (args.quick or args.tiny):
        big = imresize(photo.double(), 1.0)  # copy in float64 for the resize below
        h, w = big.shape[-2:]
        images["2040x1356"] = imresize(big, max(2040 / w, 1356 / h))[..., :1356, :2040].clamp(0, 1).float()
    # 8-bit pixels, as in a saved SR image (and what every implementation below receives).
    images = {k: (v * 255).round() / 255 for k, v in images.items()}
    repeats = 1 if args.tiny else 3 if args.quick else args.repeats

    impls: dict[str, Callable[[torch.Tensor], float]] = {
        "ours f32": lambda rgb: niqe(rgb, model),
        "ours f64": lambda rgb: niqe(rgb, model, precision="float64"),
    }
    if not args.no_pyiqa:
        try:
            impls["pyiqa"] = _pyiqa_niqe(mirror)
        except ImportError as exc:
            print(f"pyiqa skipped: {exc}")
    if args.basicsr_path:
        impls["basicsr"] = _basicsr_niqe(args.basicsr_path)

    print(f"torch threads: {torch.get_num_threads()}; rounds: {repeats} (+1 warm-up); interleaved")
    print(f"{'image':>10} {'implementation':>15} {'NIQE':>9} {'median s':>9} {'min s':>8} {'x ours f32 (median)':>20}")
    for label, rgb in images.items():
        times: dict[str, list[float]] = {k: [] for k in impls}
        values: dict[str, float] = {}
        for name, fn in impls.items():
            values[name] = fn(rgb)  # warm-up
        for _ in range(repeats):
            for name, fn in impls.items():
                t0 = time.perf_counter()
                fn(rgb)
                times[name].append(time.perf_counter() - t0)
        base = statistics.median(times["ours f32"])
        for name in impls:
            med = statistics.median(times[name])
            print(f"{label:>10} {name:>15} {values[name]:9.4f} {med:9.3f} {min(times[name]):8.3f} {med / base:20.1f}")


if __name__ == "__main__":
    main()
