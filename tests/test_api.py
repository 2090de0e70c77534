"""The Python API (`from replication import ...`): the same results as the commands, lazily imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import replication
from replication.archs.registry import build_arch
from replication.errors import UserError
from replication.imageio import read_image, write_image

ROOT = Path(__file__).resolve().parents[1]


def _picture(h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 8 + 2, w // 8 + 2, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def test_importing_the_package_loads_nothing_until_an_api_name_is_used():
    code = (
        "import sys, replication; assert 'torch' not in sys.modules and 'replication.api' not in sys.modules; "
        "from replication import load_model, upscale_image, score_images, synthesize_pairs; "
        "assert 'replication.api' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    assert set(replication.API) <= set(dir(replication))
    with pytest.raises(AttributeError):
        replication.no_such_name  # noqa: B018


def test_load_model_and_upscale_image_from_a_pth_and_an_rgb_array(tmp_path):
    from replication import load_model, upscale_image

    net = build_arch("srvgg", num_feat=4, num_conv=1, scale=2, seed=1)
    torch.save({"params": net.state_dict()}, tmp_path / "tiny.pth")
    model = load_model(tmp_path / "tiny.pth")
    rgb = (np.random.default_rng(0).random((6, 5, 3)) * 255).astype(np.uint8)
    write_image(tmp_path / "in.png", torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None])
    from_array = upscale_image(model, rgb)
    from_file = upscale_image(tmp_path / "tiny.pth", tmp_path / "in.png")
    assert from_array.rgb.shape == (1, 3, 12, 10)
    assert torch.equal(from_array.rgb, from_file.rgb)  # RGB order taken as RGB, the file decoded the same


def test_score_images_matches_the_metrics_command(tmp_path):
    from replication import score_images
    from replication.cli import main

    for i in range(2):
        write_image(tmp_path / "sr" / f"{i}.png", _picture(96, 192, seed=i))
        write_image(tmp_path / "gt" / f"{i}.png", _picture(96, 192, seed=i + 5))
    scores = score_images(tmp_path / "sr", metrics=("niqe", "psnr"), reference=tmp_path / "gt")
    assert sorted(scores) == ["0.png", "1.png"] and all(np.isfinite(v["niqe"]) for v in scores.values())
    out = tmp_path / "s.csv"
    argv = ["metrics", "--input", str(tmp_path / "sr"), "--reference", str(tmp_path / "gt"), "--metrics", "niqe,psnr"]
    assert main([*argv, "--output", str(out), "--no-progress"]) == 0
    import csv

    for row in csv.DictReader(out.open()):
        assert float(row["value"]) == pytest.approx(scores[row["image"]][row["metric"]], rel=1e-12)
    with pytest.raises(UserError, match="reference"):
        score_images(tmp_path / "sr", metrics=("psnr",))


def test_synthesize_pairs_is_seeded_and_writes_lq_gt(tmp_path):
    from replication import synthesize_pairs

    write_image(tmp_path / "hr" / "a.png", _picture(96, 96))
    kwargs = dict(count=2, seed=3, gt_size=64, params=ROOT / "params.yaml")
    first = synthesize_pairs(tmp_path / "hr", tmp_path / "p1", **kwargs)
    synthesize_pairs(tmp_path / "hr", tmp_path / "p2", **kwargs)
    lq = sorted((first / "lq").iterdir())
    assert len(lq) == 2 and read_image(lq[0]).size == (16, 16)
    for path in lq:
        assert path.read_bytes() == (tmp_path / "p2" / "lq" / path.name).read_bytes()
    with pytest.raises(UserError, match="variant"):
        synthesize_pairs(tmp_path / "hr", tmp_path / "p3", count=1, variant="third_order")
