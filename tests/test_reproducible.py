"""Byte-for-byte reproducibility: each kind of pipeline artifact, made twice in separate processes.

Every producer runs as its own ``python -m replication.cli`` process (fresh interpreter, random
``PYTHONHASHSEED``), from two different working folders with the same relative layout, as DVC runs a
stage from the repository root. Equal bytes then rule out hash-order metadata, wall-clock times,
timings, host names and the absolute output path. DVC hashes file contents only, so file mtimes do
not matter (tar member mtimes do, and are fixed).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from replication.artifacts.metrics_table import TIDY_COLUMNS
from replication.imageio import write_image
from replication.outputs import REPORT_FILES
from replication.params import Profile, load_params
from replication.report.config import expected_pipeline_lists
from replication.strict import from_dict, to_dict
from replication.train.config import VariantConfig

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"


def _mirror() -> Path:
    mirror = load_params(PARAMS).mirror_dir()
    if mirror is None or not (mirror / "datasets").is_dir():
        pytest.skip("offline mirror not available")
    return mirror


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONHASHSEED", None)  # each process gets its own random string-hash order
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["OMP_NUM_THREADS"] = "1"
    env.setdefault("REPLICATION_MIRROR", str(_mirror()))
    return env


def _cli(cwd: Path, *argv: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "replication.cli", *argv], cwd=cwd, env=_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, f"replication {' '.join(argv)} failed:\n{proc.stderr[-3000:]}"


def _files(root: Path) -> dict[str, bytes]:
    if root.is_file():
        return {root.name: root.read_bytes()}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def twice(tmp_path: Path, setup: Callable[[Path], None], produce: Callable[[Path], None], outputs: list[str]) -> None:
    """Run ``setup`` then ``produce`` in ``run_a/`` and ``run_b/``; every path in ``outputs`` must be equal."""
    dirs = []
    for name in ("run_a", "run_b"):
        d = tmp_path / name
        d.mkdir()
        setup(d)
        produce(d)
        dirs.append(d)
    for out in outputs:
        a, b = (_files(d / out) for d in dirs)
        assert a, f"{out}: nothing was written"
        assert sorted(a) == sorted(b), f"{out}: different file lists"
        differ = [name for name in a if a[name] != b[name]]
        assert not differ, f"{out}: files differ between two identical runs: {differ[:5]}"


# ---------------------------------------------------------------------------------------------
# One test per kind of artifact


def test_evaluation_results_folder_is_byte_stable(tmp_path):
    """Bicubic evaluation (SR images, tidy CSV, meta JSON): the results folder of an eval stage."""
    lr = _mirror() / "datasets" / "set14" / "LR_bicubic_X4"
    if not lr.is_dir():
        pytest.skip("Set14 not in the mirror")

    def setup(d: Path) -> None:
        (d / "lr").mkdir()
        for name in ("baboon.png", "barbara.png"):
            shutil.copy(lr / name, d / "lr" / name)

    def produce(d: Path) -> None:
        _cli(
            d,
            *("evaluate", "--params", str(PARAMS), "--model", "bicubic", "--name", "bicubic", "--source", "bicubic"),
            *("--dataset", "set14", "--input", "lr", "--metrics", "niqe"),
            *("--out-images", "results/bicubic/set14/images", "--out-metrics", "results/bicubic/set14/metrics.csv"),
        )

    twice(tmp_path, setup, produce, ["results"])


def test_downloaded_set_is_byte_stable(tmp_path):
    """A test set fetched from the mirror, verified and unpacked (with its completion marker)."""
    if not (_mirror() / "datasets" / "set5").is_dir():
        pytest.skip("Set5 not in the mirror")

    def produce(d: Path) -> None:
        _cli(d, "download", "set5", "--root", "data/test/set5", "--mirror", str(_mirror()), "--quiet")

    twice(tmp_path, lambda d: None, produce, ["data/test/set5"])


def test_model_file_and_its_evaluation_are_byte_stable(tmp_path):
    """An official model imported from the mirror (.pth -> safetensors + JSON sidecar), then a network
    evaluation with it (SR images through the convolutions, tidy CSV, meta JSON) at a fixed thread count."""
    lr = _mirror() / "datasets" / "set14" / "LR_bicubic_X4"
    if not (_mirror() / "weights" / "realesr-animevideov3.pth").is_file() or not lr.is_dir():
        pytest.skip("realesr-animevideov3.pth or Set14 not in the mirror")

    def setup(d: Path) -> None:
        (d / "lr").mkdir()
        shutil.copy(lr / "baboon.png", d / "lr" / "baboon.png")

    def produce(d: Path) -> None:
        model = "models/official/realesr_animevideov3.safetensors"
        _cli(d, "weights", "fetch", "realesr_animevideov3", "--params", str(PARAMS), "--no-progress", "--out", model)
        _cli(
            d,
            *("evaluate", "--params", str(PARAMS), "--threads", "2", "--device", "cpu", "--model", model),
            *("--name", "anime", "--source", "official", "--dataset", "set14", "--input", "lr", "--metrics", "niqe"),
            *("--out-images", "results/anime/set14/images", "--out-metrics", "results/anime/set14/metrics.csv"),
        )

    twice(tmp_path, setup, produce, ["models", "results"])


def _gt_images(d: Path) -> None:
    g = torch.Generator().manual_seed(0)
    for name, (h, w) in {"a.png": (96, 112), "b.png": (80, 72)}.items():
        small = torch.rand(1, 3, h // 8, w // 8, generator=g)
        write_image(d / "gt_in" / name, torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear"))


def test_synthesized_pairs_are_byte_stable(tmp_path):
    """The fixed-seed synthetic validation pairs (second-order degradations) and their JSON."""

    def produce(d: Path) -> None:
        _cli(
            d,
            *("synthesize", "--params", str(PARAMS), "--profile", "smoke", "--gt-dir", "gt_in"),
            *("--out-dir", "data/val", "--count", "3", "--seed", "5", "--gt-size", "64", "--batch-size", "2"),
        )

    twice(tmp_path, _gt_images, produce, ["data/val"])


def _tiny_params(d: Path, shard_size: int = 1000) -> None:
    """The committed smoke profile, shrunk: 8-channel nets, batch 2, GT patch 32, 4 iterations."""
    raw = yaml.safe_load(PARAMS.read_text())
    raw["profile"] = "smoke"
    raw["mirror"] = str(_mirror())
    smoke = raw["profiles"]["smoke"]
    smoke["data"].update(
        train_sets=["sample-hr-cc0"], multiscale_sets=["sample-hr-cc0"], crop_size=128, crop_step=160, thresh_size=0
    )
    smoke["data"]["shard_size"] = shard_size
    smoke["network"].update(num_feat=8, num_conv=2, disc_num_feat=8, net_init="scratch")
    smoke["degradation"]["pool_size"] = 4
    for phase in ("train_net", "train_gan"):
        smoke[phase].update(
            iters=4, batch_size=2, gt_size=32, ckpt_every=2, keep_checkpoints=2, log_every=1, sample_every=2
        )
        smoke[phase]["vgg_weights"] = "untrained"
    variants = {k: from_dict(VariantConfig, v) for k, v in raw["variants"].items()}
    raw["pipeline"] = to_dict(expected_pipeline_lists(from_dict(Profile, smoke), variants))
    (d / "params.yaml").write_text(yaml.safe_dump(raw))


def _raw_set(d: Path) -> None:
    """data/raw/sample-hr-cc0 with two of the mirror's CC0 photos (the registry layout)."""
    src = _mirror() / "datasets" / "sample-hr-cc0"
    if not src.is_dir():
        pytest.skip("sample-hr-cc0 not in the mirror")
    dest = d / "data" / "raw" / "sample-hr-cc0"
    dest.mkdir(parents=True)
    for name in ("woman.png", "food.png"):
        shutil.copy(src / name, dest / name)


def test_prepared_shards_are_byte_stable(tmp_path):
    """Multi-scale sub-images in tar shards, meta_info.txt and index.tsv."""

    def setup(d: Path) -> None:
        _raw_set(d)
        _tiny_params(d, shard_size=5)

    def produce(d: Path) -> None:
        _cli(
            d,
            *("prepare", "--params", "params.yaml", "--raw", "data/raw", "--out", "data/prepared/train"),
            *("--workers", "1", "--quiet"),
        )

    twice(tmp_path, setup, produce, ["data/prepared/train"])
    shards = sorted((tmp_path / "run_a" / "data/prepared/train").rglob("*.tar"))
    assert len(shards) > 1  # several shards, so the member-to-shard split is covered too


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    from replication.data.config import DataConfig
    from replication.data.prepare import prepare_subimages

    src = _mirror() / "datasets" / "sample-hr-cc0"
    if not src.is_dir():
        pytest.skip("sample-hr-cc0 not in the mirror")
    out = tmp_path_factory.mktemp("repro_data") / "prepared"
    cfg = DataConfig(
        train_sets=("t",),
        multiscale_sets=(),
        multiscale_factors=(0.5,),
        multiscale_shortest_edge=0,
        crop_size=128,
        crop_step=160,
        thresh_size=0,
        shard_size=100,
    )
    prepare_subimages({"t": [src / "woman.png", src / "food.png"]}, {"t": src}, cfg, out, workers=1, progress=False)
    return out


@pytest.mark.slow  # four training processes: about a minute on 2 busy cores
def test_training_outputs_are_byte_stable(tmp_path, prepared):
    """Both training phases: model file + sidecar, checkpoints (safetensors + manifest), DVCLive files."""

    def setup(d: Path) -> None:
        _tiny_params(d)
        shutil.copytree(prepared, d / "data" / "prepared" / "train")

    def produce(d: Path) -> None:
        common = ("--params", "params.yaml", "--variant", "full", "--data", "data/prepared/train")
        more = ("--models-dir", "models/pretrained", "--vgg-weights", "models/pretrained/none.pth")
        _cli(d, "train", *common, "--phase", "net", "--out", "runs/full/net", *more)
        init = ("--init", "runs/full/net/model.safetensors")
        _cli(d, "train", *common, "--phase", "gan", "--out", "runs/full/gan", *init, *more)

    twice(tmp_path, setup, produce, ["runs"])
    names = _files(tmp_path / "run_a" / "runs")
    for phase in ("net", "gan"):
        assert f"full/{phase}/model.safetensors" in names and f"full/{phase}/model.json" in names
        assert f"full/{phase}/checkpoints/step_00000004/shared.safetensors" in names
        assert f"full/{phase}/dvclive/metrics.json" in names


def _fake_results(d: Path) -> None:
    """Tidy metrics and SR images of two models, one DVCLive curve, a test set and a preview."""
    gen = torch.Generator().manual_seed(0)
    for name in ("a", "b"):
        write_image(d / "data/test/realsrset/realsrset" / f"{name}.png", torch.rand(1, 3, 12, 12, generator=gen))
    for model, source in (("bicubic", "bicubic"), ("full", "retrained-smoke")):
        out = d / "results" / model / "realsrset"
        for name in ("a", "b"):
            write_image(out / "images" / f"{name}.png", torch.rand(1, 3, 48, 48, generator=gen))
        with open(out / "metrics.csv", "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(TIDY_COLUMNS)
            for i, name in enumerate(("b.png", "a.png")):
                value = 5.0 + float(torch.rand(1, generator=gen)) + i
                w.writerow([model, source, "smoke", "realsrset", "first 2 of 20", name, "niqe", value, "true"])
    tsv = d / "runs/full/net/dvclive/plots/metrics/train/l_g_pix.tsv"
    tsv.parent.mkdir(parents=True)
    tsv.write_text("step\tl_g_pix\n1\t0.5\n2\t0.3\n3\t0.25\n")
    write_image(d / "results/previews/degradation.png", torch.rand(1, 3, 16, 16, generator=gen))


def test_report_files_are_byte_stable(tmp_path):
    """report.md/.html, the static figures, summary.csv, metrics.json, claims.csv and tidy.csv.gz."""

    def produce(d: Path) -> None:
        _cli(
            d,
            *("report", "--params", str(PARAMS), "--claims", str(PARAMS.with_name("claims.yaml"))),
            *("--results", "results", "--runs", "runs"),
            *("--test-root", "data/test", "--previews", "results/previews/degradation.png", "--out", "reports"),
        )

    twice(tmp_path, _fake_results, produce, ["reports"])
    files = _files(tmp_path / "run_a" / "reports")
    assert {name for name in REPORT_FILES if name != "static"} <= set(files)
    assert files["curves.tsv"].decode().splitlines() == [
        "curve\tvariant\tstep\tvalue",
        "net/train/l_g_pix\tfull\t1\t0.5",
        "net/train/l_g_pix\tfull\t2\t0.3",
        "net/train/l_g_pix\tfull\t3\t0.25",
    ]


def test_curves_table_is_sorted_and_thinned():
    from replication.report.curves import Curve, curves_tsv

    long = Curve("b", "gan", "train/l_g_gan", tuple(range(1, 2501)), tuple(1.0 / i for i in range(1, 2501)))
    short = Curve("a", "gan", "train/l_g_gan", (5, 10), (0.1, float("nan")))
    lines = curves_tsv([long, short], max_points=1000).splitlines()
    assert lines[1:3] == ["gan/train/l_g_gan\ta\t5\t0.1", "gan/train/l_g_gan\ta\t10\tnan"]
    steps = [int(line.split("\t")[2]) for line in lines[3:]]
    assert len(steps) <= 1001 and steps[0] == 1 and steps[-1] == 2500 and steps == sorted(steps)
    assert lines[3:5] == ["gan/train/l_g_gan\tb\t1\t1", "gan/train/l_g_gan\tb\t4\t0.25"]
