"""Bring your own model: official .pth files, spandrel, registry names fetched on demand, the official
tool's output naming, tile progress, external models in params.yaml, dvc.yaml and the report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from helpers import require_mirror

from replication.archs.loading import load_generator
from replication.archs.registry import build_arch
from replication.cli import main
from replication.errors import UserError
from replication.imageio import read_image, write_image

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLICATION_CACHE", str(tmp_path / "cache"))


def _tiny_rrdbnet() -> torch.nn.Module:
    net = build_arch("rrdbnet", num_feat=8, num_block=2, num_grow_ch=4, scale=4, seed=3).eval()
    with torch.no_grad():
        net.conv_last.bias.fill_(0.5)  # outputs inside [0, 1]: the clamp hides nothing
    return net


@pytest.fixture
def basicsr_pth(tmp_path) -> tuple[Path, torch.nn.Module]:
    """A BasicSR-format RRDBNet checkpoint: official key names under ``params_ema``."""
    net = _tiny_rrdbnet()
    path = tmp_path / "my_esrgan.pth"
    torch.save({"params_ema": net.state_dict(), "params": {}}, path)
    return path, net


def _picture(h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 4 + 2, w // 4 + 2, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def test_a_basicsr_pth_loads_as_the_network_it_holds(basicsr_pth):
    path, net = basicsr_pth
    loaded = load_generator(path)
    assert loaded.arch_name == "rrdbnet" and loaded.hyperparameters["num_block"] == 2
    assert loaded.checkpoint_info["extra"]["pth_key"] == "params_ema"
    x = _picture(12, 10)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))


def test_a_pth_saved_under_a_safetensors_name_still_loads(basicsr_pth, tmp_path):
    path, _ = basicsr_pth
    renamed = tmp_path / "misnamed.safetensors"
    shutil.copy(path, renamed)
    assert load_generator(renamed).arch_name == "rrdbnet"


def test_a_safetensors_header_length_starting_with_0x80_is_not_taken_for_a_pickle(tmp_path):
    # The study's bsrgan_degradation-s0 model had a 0x1380-byte header: its first byte, 0x80, is also the
    # first byte of a legacy pickle, and the sniffer used to send it to torch.load, which refused it.
    from replication.archs.checkpoint import save_model

    net = build_arch("srvgg", num_feat=8, num_conv=2, act_type="prelu", scale=4)
    path = save_model(tmp_path / "m.safetensors", net, source="test", source_sha256=None, fp16_rounded=False)
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    pad = (0x80 - n % 256) % 256 or 256  # safetensors allows trailing spaces in the header
    header = raw[8 : 8 + n] + b" " * pad
    padded = tmp_path / "padded.safetensors"
    padded.write_bytes(len(header).to_bytes(8, "little") + header + raw[8 + n :])
    assert padded.read_bytes()[0] == 0x80
    if path.with_suffix(".json").exists():
        shutil.copy(path.with_suffix(".json"), padded.with_suffix(".json"))
    loaded = load_generator(padded)
    x = _picture(12, 10)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))


def test_upscale_takes_a_pth_directly(basicsr_pth, tmp_path):
    path, net = basicsr_pth
    write_image(tmp_path / "in.png", _picture(12, 10))
    out = tmp_path / "o.png"
    assert main(["upscale", "--model", str(path), "--input", str(tmp_path / "in.png"), "--output", str(out)]) == 0
    with torch.no_grad():
        want = net(read_image(tmp_path / "in.png").rgb).clamp(0, 1)
    assert torch.allclose(read_image(out).rgb, want, atol=1 / 255 + 1e-6)


def test_the_mirror_animevideov3_pth_loads_and_upscales(tmp_path):
    mirror = require_mirror("weights/realesr-animevideov3.pth")
    net = load_generator(mirror / "weights/realesr-animevideov3.pth")
    assert net.arch_name == "srvgg" and net.hyperparameters["num_conv"] == 16 and net.scale == 4
    write_image(tmp_path / "in.png", _picture(16, 12))
    out = tmp_path / "out"
    assert main(["upscale", "-n", str(mirror / "weights/realesr-animevideov3.pth"), "-i", str(tmp_path / "in.png"),
                 "-o", str(out.with_suffix(".png"))]) == 0  # fmt: skip
    assert read_image(out.with_suffix(".png")).size == (64, 48)


def test_a_registry_name_is_fetched_once_into_the_cache(tmp_path, monkeypatch):
    require_mirror("weights/realesr-animevideov3.pth")
    from replication.archs import fetch
    from replication.archs.resolve import cache_dir, resolve_model

    path = resolve_model("realesr_animevideov3", progress=False)
    assert path == cache_dir() / "realesr_animevideov3.safetensors" and path.is_file()
    assert str(tmp_path / "cache") in str(path)

    def no_second_fetch(*args, **kwargs):
        raise AssertionError("fetched again")

    monkeypatch.setattr(fetch, "fetch_weights", no_second_fetch)
    assert resolve_model("realesr_animevideov3") == path


def test_wrong_files_get_a_hint_naming_the_right_command(tmp_path, capsys):
    param = tmp_path / "x4.param"
    param.write_text("7767517\n1 1\nInput data 0 1 data\n")
    (tmp_path / "x4.bin").write_bytes(b"\x00" * 16)
    with pytest.raises(UserError, match="weights import-ncnn --param"):
        load_generator(param)
    with pytest.raises(UserError, match="weights import-ncnn"):
        load_generator(tmp_path / "x4.bin")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07onnx")
    with pytest.raises(UserError, match=r"junk\.onnx: not a model file"):
        load_generator(junk)
    # a name that is neither a file nor a registry model: the suggested --out has an extension
    write_image(tmp_path / "in.png", _picture(8, 8))
    assert (
        main(["upscale", "-n", "realesrgan_x4plux", "-i", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png")]) == 1
    )
    err = capsys.readouterr().err
    assert "--out models/official/realesrgan_x4plux.safetensors" in err


def test_a_discriminator_checkpoint_is_not_a_generator(tmp_path):
    disc = build_arch("vgg_discriminator", num_in_ch=3, num_feat=4, input_size=128)
    torch.save({"params": disc.state_dict()}, tmp_path / "d.pth")
    with pytest.raises(UserError, match="not a super-resolution generator"):
        load_generator(tmp_path / "d.pth")


def test_unknown_architectures_name_the_spandrel_extra_when_it_is_absent(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "spandrel", None)  # import fails, as when not installed
    torch.save({"head.weight": torch.zeros(4, 3, 3, 3)}, tmp_path / "swin.pth")
    with pytest.raises(UserError, match=r"replication\[spandrel\]"):
        load_generator(tmp_path / "swin.pth")


def test_spandrel_loads_what_it_recognises():
    pytest.importorskip("spandrel")
    from replication.archs.loading import spandrel_model

    # spandrel's ESRGAN detection assumes the usual 32 growth channels; the other sizes stay tiny
    net = build_arch("rrdbnet", num_feat=8, num_block=1, num_grow_ch=32, scale=4, seed=3).eval()
    wrapped = spandrel_model(dict(net.state_dict()), "<test>")
    assert wrapped.scale == 4 and wrapped.arch_name.startswith("spandrel:")
    x = _picture(8, 8)
    with torch.no_grad():
        assert torch.allclose(wrapped(x), net(x), atol=1e-5)


@pytest.mark.parametrize(
    "src, suffix, ext, alpha, bits, want",
    [
        ("a.jpg", "out", "auto", False, 8, "a_out.jpg"),
        ("a.jpg", "", "auto", False, 8, "a.jpg"),
        ("a.png", "x2", "jpg", False, 8, "a_x2.jpg"),
        ("a.jpg", "out", "jpg", True, 8, "a_out.png"),  # jpg holds no alpha: png, as the official tool
        ("a.png", "out", "jpg", False, 16, "a_out.png"),
    ],
)
def test_outputs_are_named_as_the_official_tool_names_them(src, suffix, ext, alpha, bits, want):
    from replication.archs.upscale_cli import output_file
    from replication.imageio import Image

    image = Image(torch.zeros(1, 3, 2, 2), torch.zeros(1, 1, 2, 2) if alpha else None, bits, False)
    assert output_file(Path("in") / src, Path("out"), suffix, ext, image) == Path("out") / want


def test_folder_mode_writes_ext_and_suffix(tmp_path):
    folder = tmp_path / "in"
    write_image(folder / "a.png", _picture(8, 8))
    net = _tiny_rrdbnet()
    torch.save({"params_ema": net.state_dict()}, tmp_path / "m.pth")
    argv = ["upscale", "-n", str(tmp_path / "m.pth"), "-i", str(folder), "-o", str(tmp_path / "out")]
    assert main([*argv, "--ext", "jpg", "--suffix", "sr", "--no-progress"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".replication-output", "a_sr.jpg"]


def test_tiles_of_one_image_show_progress(capsys):
    from replication.archs.infer import upscale_tensor

    net = _tiny_rrdbnet()
    upscale_tensor(net, _picture(16, 16), tile=8, tile_pad=2, progress=True)
    assert "tiles:" in (err := capsys.readouterr().err) and "/4 [" in err
    upscale_tensor(net, _picture(16, 16), tile=8, tile_pad=2, progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("name", ["bicubic", "realesrgan_x4plus", "full", "full-s0", "full-s2-net", "a/b", "-x"])
def test_external_names_that_would_collide_are_refused(name):
    from replication.evaluate.external import check_external_name

    with pytest.raises(ValueError, match="external model name"):
        check_external_name(name, ["full", "no_sinc"])
    check_external_name("my_esrgan.v2", ["full"])


def _params_with(tmp_path: Path, models: dict) -> Path:
    text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    out = tmp_path / "params.yaml"
    out.write_text(text.replace("\nexternal_models: {}\n", f"\nexternal_models: {json.dumps(models)}\n"))
    return out


def test_external_models_in_params_yaml_are_checked_by_params_check(tmp_path):
    from replication.params import load_params
    from replication.params_check import check_params
    from replication.strict import ParamsError

    assert load_params(ROOT / "params.yaml").external_models == {}
    good = load_params(_params_with(tmp_path, {"mine": "models/external/mine.pth"}))
    check_params(good)
    assert good.external_models == {"mine": "models/external/mine.pth"}
    for bad in ({"mine": "/abs/mine.pth"}, {"mine": "../mine.pth"}, {"full-s0": "m.pth"}):
        with pytest.raises(ParamsError, match="external"):  # cross-part: params --check (the registries)
            check_params(load_params(_params_with(tmp_path, bad)))


def test_dvc_fans_external_models_out_into_eval_external_stages(tmp_path):
    pytest.importorskip("dvc")
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["eval_external"]
    assert stage["foreach"] == "${external_models}" and "--source external" in stage["do"]["cmd"]
    work = tmp_path / "repo"
    work.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    shutil.copy(ROOT / "dvc.yaml", work / "dvc.yaml")
    shutil.copy(_params_with(tmp_path, {"mine": "models/external/mine.pth"}), work / "params.yaml")
    env = {"DVC_NO_ANALYTICS": "1", "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=work, check=True, env=env)
    listed = subprocess.run(
        [sys.executable, "-m", "dvc", "stage", "list"], cwd=work, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "eval_external@mine" in listed and "results/mine" in listed


def test_evaluate_takes_a_pth_as_an_external_model_and_table1_shows_it(basicsr_pth, tmp_path, monkeypatch):
    import pandas as pd

    from replication.artifacts.metrics_table import read_tidy, summarise
    from replication.report.tables import external_models, table1

    path, _ = basicsr_pth
    monkeypatch.chdir(tmp_path)
    for i in range(2):
        write_image(Path("lq") / f"img{i}.png", _picture(48, 24, seed=i))  # x4: two NIQE blocks
    argv = ["evaluate", "--params", str(ROOT / "params.yaml"), "--model", str(path), "--name", "my_esrgan"]
    argv += [
        "--source",
        "external",
        "--dataset",
        "realsrset",
        "--input",
        "lq",
        "--out-images",
        "r/my_esrgan/realsrset/images",
    ]
    argv += ["--out-metrics", "r/my_esrgan/realsrset/metrics.csv", "--metrics", "niqe", "--no-progress"]
    assert main(argv) == 0
    tidy = read_tidy([Path("r")])
    assert set(tidy["source"]) == {"external"} and set(tidy["model"]) == {"my_esrgan"}
    summary = summarise(tidy, 10, 0)
    assert external_models(summary) == ["my_esrgan"]
    table, _notes = table1(summary, ("realsrset",), {})
    row = next(r for r in table.rows if r[0] == "my_esrgan (external)")
    cell = row[table.columns.index("realsrset: NIQE ↓")]
    mean = summary[(summary["metric"] == "niqe")]["mean"].iloc[0]
    assert row[2] == "external" and cell == f"— / {mean:.4f}" and not pd.isna(mean)
    # the same name as a retrained run is refused before any work (a flag value: a usage error)
    assert main([*argv[:6], "full-s0", *argv[7:], "--overwrite"]) == 2
