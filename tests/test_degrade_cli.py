"""``replication synthesize``: files, sizes, reproducibility, atomic output, preview grid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from replication.cli import main
from replication.degrade.preview import render_preview
from replication.imageio import read_image, write_image
from replication.params import load_params

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def gt_dir(tmp_path) -> Path:
    folder = tmp_path / "gt_in"
    g = torch.Generator().manual_seed(0)
    for name, (h, w) in {"a.png": (150, 170), "b.png": (100, 140)}.items():  # b is smaller than gt_crop
        small = torch.rand(1, 3, h // 8, w // 8, generator=g)
        write_image(folder / name, torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear"))
    return folder


def _synthesize(gt_dir: Path, out: Path, *extra: str) -> int:
    args = [
        "synthesize",
        "--gt-dir",
        str(gt_dir),
        "--out-dir",
        str(out),
        "--count",
        "3",
        "--seed",
        "5",
        "--params",
        str(PARAMS),
        "--profile",
        "smoke",
        "--gt-size",
        "64",
        "--batch-size",
        "2",
        *extra,
    ]
    return main(args)


def test_synthesize_writes_reproducible_pairs(gt_dir, tmp_path):
    out = tmp_path / "pairs"
    assert _synthesize(gt_dir, out) == 0
    names = sorted(p.name for p in (out / "lq").iterdir())
    assert names == ["000000.png", "000001.png", "000002.png"]
    assert sorted(p.name for p in (out / "gt").iterdir()) == names
    assert read_image(out / "gt" / "000000.png").size == (64, 64)
    assert read_image(out / "lq" / "000000.png").size == (16, 16)
    meta = json.loads((out / "synthesis.json").read_text())
    assert meta["variant"] == "second_order" and meta["count"] == 3 and len(meta["sources"]) == 3
    again = tmp_path / "again"
    assert _synthesize(gt_dir, again) == 0
    for sub in ("gt", "lq"):
        for name in names:
            assert (out / sub / name).read_bytes() == (again / sub / name).read_bytes()
    other = tmp_path / "other"
    assert _synthesize(gt_dir, other, "--variant", "bsrgan") == 0
    assert (other / "lq" / "000000.png").read_bytes() != (out / "lq" / "000000.png").read_bytes()


def test_bad_image_is_skipped_and_an_unrelated_folder_is_kept(gt_dir, tmp_path, capsys):
    (gt_dir / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "pairs"
    assert _synthesize(gt_dir, out, "--count", "6") == 1  # the good images still give 6 pairs
    err = capsys.readouterr().err
    assert "broken.png" in err and "1 of 3 GT image(s) could not be read" in err
    assert len(list((out / "lq").iterdir())) == 6
    assert "broken.png" not in json.loads((out / "synthesis.json").read_text())["sources"]
    other = tmp_path / "mine"
    other.mkdir()
    (other / "keep.txt").write_text("old")
    assert _synthesize(gt_dir, other, "--count", "6") == 2  # not an earlier output: refused
    assert (other / "keep.txt").read_text() == "old" and sorted(p.name for p in other.iterdir()) == ["keep.txt"]


def test_bad_arguments_are_user_errors(gt_dir, tmp_path, capsys):
    assert _synthesize(gt_dir, tmp_path / "x", "--gt-size", "66") == 2  # not divisible by 4
    assert "--gt-size 66" in capsys.readouterr().err
    assert _synthesize(tmp_path / "missing", tmp_path / "y") == 1
    assert "missing" in capsys.readouterr().err


def test_render_preview_grid(gt_dir, tmp_path):
    cfg = load_params(PARAMS, profile="smoke").active.degradation
    out = render_preview(gt_dir / "a.png", cfg, 4, 0, tmp_path / "grid.png")
    image = read_image(out)
    s = cfg.gt_crop
    assert image.size == (2 * (s + 28) + 4, 3 * s + 2 * 4)
