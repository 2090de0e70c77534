"""Weights registry: complete, well-formed, honest about availability; fetch from the mirror."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import require_mirror

from replication.archs.checkpoint import load_model
from replication.archs.config import NetworkConfig
from replication.archs.registry import build_arch
from replication.archs.weights_registry import REGISTRY, get
from replication.cli import main
from replication.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
CONTRACT_NAMES = [
    "realesrgan_x4plus",
    "realesrnet_x4plus",
    "realesrgan_x2plus",
    "realesr_general_x4v3",
    "realesr_animevideov3",
    "realesrgan_x4plus_anime_6b",
    "esrgan_df2kost",
    "realsr_df2k",
    "realsr_df2k_jpeg",
    "realsr_dped",
    "bsrgan",
    "dan",
    "cdc",
    "vgg19_imagenet",
]


def test_registry_has_exactly_the_contract_names():
    assert list(REGISTRY) == CONTRACT_NAMES
    text = (ROOT / "docs" / "CONTRACTS.md").read_text()
    for name in CONTRACT_NAMES:
        assert f"`{name}`" in text


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_entries_are_well_formed(name):
    e = get(name)
    hexd = re.compile(r"^[0-9a-f]{64}$")
    if e.pth and e.pth.sha256:
        assert hexd.match(e.pth.sha256)
        if e.pth.sha256_prefix:
            assert e.pth.sha256.startswith(e.pth.sha256_prefix)
    if e.availability == "ncnn-mirror":
        assert e.ncnn and hexd.match(e.ncnn.bin_sha256) and hexd.match(e.ncnn.param_sha256)
    if e.availability == "pth":
        assert e.pth and e.pth.urls
    if e.availability == "unavailable":
        assert e.reason.startswith("not available")
    if e.availability == "manual":  # browser-only hosts: no URL, a hint and a place to put the file
        assert e.pth and not e.pth.urls and e.pth.manual_hint and e.manual_path in e.reason
    if e.is_generator:
        net = build_arch(e.arch, **e.hyperparameters)  # hyperparameters are valid for the architecture
        assert sum(p.numel() for p in net.parameters()) == e.num_parameters


def test_mirror_ncnn_checksums_match_the_manifest():
    import json

    mirror = require_mirror("MANIFEST.json")
    manifest = {e["path"]: e for e in json.loads((mirror / "MANIFEST.json").read_text())}
    for e in REGISTRY.values():
        if e.ncnn:
            assert manifest[e.ncnn.bin]["sha256"] == e.ncnn.bin_sha256
            assert manifest[e.ncnn.bin]["bytes"] == e.ncnn.bin_size
            assert manifest[e.ncnn.param]["sha256"] == e.ncnn.param_sha256
        if e.pth and e.pth.mirror_relpath in manifest:
            assert manifest[e.pth.mirror_relpath]["sha256"] == e.pth.sha256


def test_fetch_prefers_the_exact_pth_then_the_ncnn_copy(tmp_path, capsys):
    require_mirror("weights")
    params = ROOT / "params.yaml"
    a = tmp_path / "anime.safetensors"
    assert (
        main(["weights", "fetch", "realesr_animevideov3", "--out", str(a), "--params", str(params), "--no-progress"])
        == 0
    )
    info_a = load_model(a).checkpoint_info
    assert info_a["fp16_rounded"] is False and info_a["source"] == "pth:realesr-animevideov3.pth"
    assert (tmp_path / "realesr-animevideov3.pth").is_file()  # the verified download is kept
    b = tmp_path / "anime_ncnn.safetensors"
    assert (
        main(["weights", "fetch", "realesr_animevideov3", "--source", "ncnn", "--out", str(b), "--params", str(params)])
        == 0
    )
    assert load_model(b).checkpoint_info["fp16_rounded"] is True
    assert "fp16-rounded" in capsys.readouterr().out


def test_unavailable_models_say_so(tmp_path, capsys):
    for name in ("dan", "cdc"):
        out = str(tmp_path / f"{name}.safetensors")
        assert main(["weights", "fetch", name, "--out", out, "--manual", str(tmp_path / "manual")]) == 1
        err = capsys.readouterr().err
        assert "not available" in err and str(tmp_path / "manual" / "weights" / get(name).pth.filename) in err
    assert not list(tmp_path.iterdir())


def test_a_tampered_mirror_file_is_refused(tmp_path):
    from replication.archs.fetch import fetch_weights

    mirror = tmp_path / "mirror"
    e = get("realesr_animevideov3")
    for rel in (e.ncnn.param, e.ncnn.bin):
        (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
        (mirror / rel).write_bytes(b"7767517\n")
    with pytest.raises(UserError, match="tampered"):
        fetch_weights("realesr_animevideov3", tmp_path / "x.safetensors", mirror=mirror, source="ncnn")
    assert not (tmp_path / "x.safetensors").exists()


def test_list_command(capsys):
    assert main(["weights", "list", "--params", str(ROOT / "params.yaml")]) == 0
    out = capsys.readouterr().out
    for name in CONTRACT_NAMES:
        assert name in out
    assert "manual" in out and "ncnn-mirror" in out


def test_params_check_checks_net_init():
    from replication.params_check import check_net_init

    check_net_init(
        NetworkConfig(
            arch="rrdbnet", num_feat=64, num_block=23, num_grow_ch=32, disc_num_feat=64, net_init="esrgan_df2kost"
        )
    )
    with pytest.raises(ValueError, match="net_init"):
        check_net_init(
            NetworkConfig(arch="rrdbnet", num_feat=64, num_block=23, num_grow_ch=32, disc_num_feat=64, net_init="dan")
        )
    with pytest.raises(ValueError, match="num_block=23"):
        check_net_init(
            NetworkConfig(
                arch="rrdbnet", num_feat=64, num_block=6, num_grow_ch=32, disc_num_feat=64, net_init="realesrnet_x4plus"
            )
        )
