"""Inference: tiling equals whole-image inference, mod padding, and image kinds through the CLI."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from replication.archs.checkpoint import save_model
from replication.archs.infer import (
    tile_recompute_fraction,
    upscale_image,
    upscale_tensor,
)
from replication.archs.registry import build_arch
from replication.cli import main
from replication.imageio import read_image


def _net(arch: str, **hyper) -> torch.nn.Module:
    net = build_arch(arch, seed=1, **hyper).eval()
    if arch == "rrdbnet":
        with torch.no_grad():
            net.conv_last.bias.fill_(0.5)  # keep outputs inside [0, 1] so the clamp hides nothing
    return net


def _image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    # smooth random image: closer to a photo than white noise
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, h // 4 + 2, w // 4 + 2, generator=g)
    return torch.nn.functional.interpolate(small, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


@pytest.mark.parametrize(
    "arch, hyper",
    [
        ("rrdbnet", dict(num_feat=8, num_block=1, num_grow_ch=4, scale=4)),
        ("rrdbnet", dict(num_feat=8, num_block=1, num_grow_ch=4, scale=2)),
        ("rrdbnet", dict(num_feat=8, num_block=1, num_grow_ch=4, scale=1)),
        ("srvgg", dict(num_feat=8, num_conv=3, scale=4)),
    ],
)
def test_tiled_equals_untiled_when_the_pad_covers_the_receptive_field(arch, hyper):
    net = _net(arch, **hyper)
    x = _image(45, 38)  # odd sides: scale 2 / 1 need mod padding
    full = upscale_tensor(net, x)
    s = hyper["scale"]
    assert full.shape == (1, 3, 45 * s, 38 * s)
    assert 0.05 < full.mean() < 0.95
    tiled = upscale_tensor(net, x, tile=16, tile_pad=net.receptive_radius)
    assert (tiled - full).abs().max().item() <= 1e-5
    # too little context: the seams show (so the check above can fail)
    seamy = upscale_tensor(net, x, tile=16, tile_pad=1)
    assert (seamy - full).abs().max().item() > 1e-4


def test_mod_padding_reflects_right_and_bottom_then_crops():
    net = _net("rrdbnet", num_feat=8, num_block=1, num_grow_ch=4, scale=1)
    x = _image(13, 10)
    out = upscale_tensor(net, x, channels_last=False)
    padded = torch.nn.functional.pad(x, (0, 2, 0, 3), mode="reflect")  # to 16 × 12, multiples of 4
    with torch.no_grad():
        ref = net(padded)[..., :13, :10].clamp(0, 1)
    assert out.shape == (1, 3, 13, 10) and torch.equal(out, ref)
    # the default NHWC path gives the same values up to float rounding
    assert (upscale_tensor(net, x) - ref).abs().max().item() <= 1e-5


def test_recompute_fraction():
    assert tile_recompute_fraction(128, 128, 64, 0) == 0.0
    # 2×2 tiles of 64 with 10 px context inside a 128 image: each tile 74×74
    assert tile_recompute_fraction(128, 128, 64, 10) == pytest.approx(4 * 74 * 74 / 128**2 - 1)


def test_bf16_autocast_is_close_to_fp32():
    net = _net("srvgg", num_feat=8, num_conv=2)
    x = _image(24, 24)
    ref = upscale_tensor(net, x)
    low = upscale_tensor(net, x, dtype=torch.bfloat16)
    assert low.dtype == torch.float32 and low.shape == ref.shape
    assert 0 < (low - ref).abs().max().item() < 0.02


@pytest.fixture()
def identity_model(tmp_path) -> Path:
    """An SRVGG ×2 whose residual is zero: the output is exactly the nearest-neighbour upsampling."""
    net = build_arch("srvgg", num_feat=4, num_conv=1, scale=2)
    with torch.no_grad():
        for p in net.body[-1].parameters():
            p.zero_()
    return save_model(tmp_path / "identity.safetensors", net, source="test", source_sha256=None, fp16_rounded=False)


def _write(path: Path, arr: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), arr)
    return path


def test_16bit_rgba_round_trip_keeps_every_bit(identity_model, tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 65536, size=(9, 7, 4), dtype=np.uint16)
    src = _write(tmp_path / "in16.png", arr)
    dst = tmp_path / "out16.png"
    assert main(["upscale", "--model", str(identity_model), "--input", str(src), "--output", str(dst)]) == 0
    out = cv2.imread(str(dst), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (18, 14, 4)
    # colour and alpha (the alpha went through its own network pass) are exact nearest upsamplings
    assert np.array_equal(out, arr.repeat(2, axis=0).repeat(2, axis=1))


def test_gray_in_gray_out_and_outscale(identity_model, tmp_path):
    arr = np.random.default_rng(1).integers(0, 256, size=(10, 12), dtype=np.uint8)
    src = _write(tmp_path / "gray.png", arr)
    dst = tmp_path / "gray_out.png"
    assert main(["upscale", "--model", str(identity_model), "--input", str(src), "--output", str(dst)]) == 0
    out = cv2.imread(str(dst), cv2.IMREAD_UNCHANGED)
    assert out.ndim == 2 and np.array_equal(out, arr.repeat(2, axis=0).repeat(2, axis=1))
    dst3 = tmp_path / "gray_x3.png"
    assert (
        main(["upscale", "--model", str(identity_model), "--input", str(src), "--output", str(dst3), "--outscale", "3"])
        == 0
    )
    assert cv2.imread(str(dst3), cv2.IMREAD_UNCHANGED).shape == (30, 36)


def test_alpha_modes_and_tiling_through_upscale_image(identity_model):
    from replication.archs.checkpoint import load_model
    from replication.imageio import image_from_array

    net = load_model(identity_model)
    arr = np.random.default_rng(2).integers(0, 256, size=(11, 13, 4), dtype=np.uint8)
    image = image_from_array(arr)
    a = upscale_image(net, image, tile=4, tile_pad=3)
    b = upscale_image(net, image, alpha_mode="bilinear")
    assert a.alpha.shape == b.alpha.shape == (1, 1, 22, 26) and a.bit_depth == 8
    assert torch.allclose(a.alpha, image.alpha.repeat_interleave(2, 2).repeat_interleave(2, 3), atol=1e-6)
    assert not torch.allclose(a.alpha, b.alpha)


def test_folder_mode_reports_bad_files_and_keeps_going(identity_model, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "a.png", np.zeros((4, 4, 3), np.uint8))
    _write(folder / "b.jpg", np.full((5, 3, 3), 200, np.uint8))
    (folder / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    assert (
        main(["upscale", "--model", str(identity_model), "--input", str(folder), "--output", str(out), "--no-progress"])
        == 1
    )
    # named as the official tool names them: <stem>_<suffix>.<ext>, suffix "out" by default
    assert sorted(p.name for p in out.iterdir()) == [".replication-output", "a_out.png", "b_out.jpg"]
    assert read_image(out / "b_out.jpg").size == (10, 6)


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    assert (
        main(
            [
                "upscale",
                "--model",
                str(tmp_path / "nope.safetensors"),
                "--input",
                str(tmp_path),
                "--output",
                str(tmp_path / "o"),
            ]
        )
        == 1
    )
    assert "weights fetch" in capsys.readouterr().err
