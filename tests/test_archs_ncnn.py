"""ncnn import: the converted models reproduce the ncnn runtime on real images; bad files are refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import require_mirror

from replication.archs.checkpoint import load_model
from replication.archs.ncnn import parse_param
from replication.archs.ncnn_import import ncnn_to_model
from replication.cli import main
from replication.errors import UserError
from replication.imageio import read_image

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mirror() -> Path:
    return require_mirror("weights/ncnn")


def _crop(mirror: Path, size: int) -> torch.Tensor:
    # a real photo crop (RealSRSet 'building', 256x256)
    return (
        read_image(mirror / "datasets" / "realsrset" / "building.png")
        .rgb[:, :, 40 : 40 + size, 60 : 60 + size]
        .contiguous()
    )


def _ncnn_runtime(param: Path, binary: Path, x: torch.Tensor) -> torch.Tensor:
    ncnn = pytest.importorskip("ncnn")
    net = ncnn.Net()
    # exact fp32 CPU inference: no Vulkan, no fp16 / bf16 storage or arithmetic
    for flag in (
        "use_vulkan_compute",
        "use_fp16_storage",
        "use_fp16_packed",
        "use_fp16_arithmetic",
        "use_bf16_storage",
    ):
        setattr(net.opt, flag, False)
    assert net.load_param(str(param)) == 0 and net.load_model(str(binary)) == 0
    ex = net.create_extractor()
    ex.input("data", ncnn.Mat(np.ascontiguousarray(x[0].numpy())))
    ret, out = ex.extract("output")
    assert ret == 0
    return torch.from_numpy(np.array(out))[None]


def _compare(mirror: Path, stem: str, arch: str, size: int) -> float:
    param = mirror / "weights" / "ncnn" / "realesrgan" / f"{stem}.param"
    binary = param.with_suffix(".bin")
    net, model = ncnn_to_model(param, binary, arch)
    assert model.fp16_rounded
    x = _crop(mirror, size)
    with torch.no_grad():
        ours = net(x)
    theirs = _ncnn_runtime(param, binary, x)
    assert ours.shape == theirs.shape == (1, 3, 4 * size, 4 * size)
    return (ours - theirs).abs().max().item()


def test_animevideov3_matches_the_ncnn_runtime(mirror):
    assert _compare(mirror, "realesr-animevideov3-x4", "srvgg", 48) <= 1e-4


@pytest.mark.slow
def test_realesrgan_x4plus_matches_the_ncnn_runtime(mirror):
    assert _compare(mirror, "realesrgan-x4plus", "rrdbnet", 24) <= 1e-4


def test_import_ncnn_cli_writes_an_fp16_rounded_model(mirror, tmp_path):
    param = mirror / "weights/ncnn/realesrgan/realesr-animevideov3-x4.param"
    out = tmp_path / "anime.safetensors"
    assert (
        main(
            [
                "weights",
                "import-ncnn",
                "--param",
                str(param),
                "--bin",
                str(param.with_suffix(".bin")),
                "--arch",
                "srvgg",
                "--num-conv",
                "16",
                "--scale",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    net = load_model(out)
    info = net.checkpoint_info
    assert info["fp16_rounded"] is True
    assert info["source_sha256"] == "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d"
    assert info["hyperparameters"]["num_conv"] == 16 and info["num_parameters"] == 621_424
    # every conv weight is exactly representable in fp16; PReLU slopes and biases are not rounded
    w = net.body[2].weight
    assert torch.equal(w.half().float(), w)


def test_the_mirror_pth_agrees_with_the_ncnn_copy_to_fp16_rounding(mirror):
    """The mirror's fp32 animevideov3 .pth and the official ncnn copy differ only by fp16 rounding.

    Measured: the ncnn converter truncates toward zero (about half the weights differ from
    round-to-nearest) and flushes fp16 subnormals (|w| < 2^-14) to zero, so the bound is one fp16
    step of |w|, or 2^-14 for tiny weights.
    """
    from replication.archs.pth_import import pth_to_model

    ncnn_net, _ = ncnn_to_model(
        mirror / "weights/ncnn/realesrgan/realesr-animevideov3-x4.param",
        mirror / "weights/ncnn/realesrgan/realesr-animevideov3-x4.bin",
        "srvgg",
    )
    pth_net, facts = pth_to_model(mirror / "weights/realesr-animevideov3.pth", "srvgg")
    assert facts["pth_key"] == "params"
    for k, v in pth_net.state_dict().items():
        ref = ncnn_net.state_dict()[k]
        step = torch.where(v.abs() < 2**-14, torch.tensor(2**-14), torch.finfo(torch.float16).eps * v.abs())
        assert ((v - ref).abs() <= step).all(), k
    x = _crop(mirror, 32)
    with torch.no_grad():
        diff = (pth_net(x) - ncnn_net(x)).abs().max().item()
    assert 0 < diff < 0.01


def test_truncated_or_oversized_bin_is_an_error_naming_file_and_offset(mirror, tmp_path):
    param = mirror / "weights/ncnn/realesrgan/realesr-animevideov3-x4.param"
    data = param.with_suffix(".bin").read_bytes()
    short = tmp_path / "short.bin"
    short.write_bytes(data[:-10])
    with pytest.raises(UserError, match=r"short\.bin: ends at byte 1247358 .*offset"):
        ncnn_to_model(param, short, "srvgg")
    long = tmp_path / "long.bin"
    long.write_bytes(data + b"\0" * 8)
    with pytest.raises(UserError, match=r"long\.bin: 8 bytes left over at offset 1247368"):
        ncnn_to_model(param, long, "srvgg")
    wrong = mirror / "weights/ncnn/realesrgan/realesrgan-x4plus-anime.bin"
    with pytest.raises(UserError):
        ncnn_to_model(param, wrong, "srvgg")


def test_graph_and_hyperparameter_mismatches_are_errors(mirror, tmp_path):
    param = mirror / "weights/ncnn/realesrgan/realesr-animevideov3-x4.param"
    binary = param.with_suffix(".bin")
    with pytest.raises(UserError, match="num_conv=16, but num_conv=32"):
        ncnn_to_model(param, binary, "srvgg", num_conv=32)
    with pytest.raises(UserError, match="do not form an RRDBNet"):
        ncnn_to_model(param, binary, "rrdbnet")
    bad = tmp_path / "bad.param"
    bad.write_text("7767518\n1 1\nInput data 0 1 data\n")
    with pytest.raises(UserError, match="magic"):
        parse_param(bad)
    # an activation that the architecture does not have is caught at its line
    text = param.read_text().replace("0=64 1=3 4=1 5=1 6=36864", "0=64 1=3 4=1 5=1 6=36864 9=1", 1)
    edited = tmp_path / "edited.param"
    edited.write_text(text)
    shutil.copy(binary, tmp_path / "edited.bin")
    with pytest.raises(UserError, match=r"edited\.param:\d+: Conv_2 .*fused activation"):
        ncnn_to_model(edited, tmp_path / "edited.bin", "srvgg")
