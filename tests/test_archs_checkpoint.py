"""Checkpoint format, safe .pth loading and the old-ESRGAN key mapping."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from replication.archs.checkpoint import (
    load_model,
    load_pth_state_dict,
    read_sidecar,
    save_model,
)
from replication.archs.keymap import detect_rrdb_naming, to_basicsr_names
from replication.archs.registry import build_arch
from replication.archs.rrdbnet import rrdbnet_conv_names
from replication.cli import main
from replication.errors import UserError

TINY = dict(num_feat=8, num_block=2, num_grow_ch=4)


def _x() -> torch.Tensor:
    return torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def test_save_load_round_trip_with_sidecar(tmp_path):
    net = build_arch("rrdbnet", scale=2, seed=5, **TINY).eval()
    path = save_model(
        tmp_path / "m.safetensors",
        net,
        source="test",
        source_sha256="ab" * 32,
        fp16_rounded=True,
        extra={"note": "unit test"},
    )
    side = json.loads((tmp_path / "m.json").read_text())
    assert side["arch"] == "rrdbnet" and side["hyperparameters"]["scale"] == 2
    assert side["source_sha256"] == "ab" * 32 and side["fp16_rounded"] is True
    assert side["extra"] == {"note": "unit test"}
    # No git revision or wall-clock time: identical weights give an identical file (DVC hashes it).
    assert "git_revision" not in side and "created" not in side
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]  # no temp files left
    loaded = load_model(path)
    assert loaded.hyperparameters == net.hyperparameters and not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(_x()), net(_x()))
    assert read_sidecar(path)["num_parameters"] == sum(p.numel() for p in net.parameters())


def test_spectral_norm_discriminator_round_trip(tmp_path):
    net = build_arch("unet_discriminator", num_feat=8, seed=1)
    net(torch.rand(2, 3, 16, 16))  # a training-mode forward updates weight_u / weight_v
    path = save_model(tmp_path / "d.safetensors", net, source="test", source_sha256=None, fp16_rounded=False)
    loaded = load_model(path)
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k


def test_a_sidecar_from_another_model_is_detected(tmp_path):
    a = save_model(
        tmp_path / "a.safetensors",
        build_arch("srvgg", num_feat=4, num_conv=1),
        source="a",
        source_sha256=None,
        fp16_rounded=False,
    )
    save_model(
        tmp_path / "b.safetensors",
        build_arch("srvgg", num_feat=4, num_conv=2),
        source="b",
        source_sha256=None,
        fp16_rounded=False,
    )
    (tmp_path / "b.json").replace(tmp_path / "a.json")
    with pytest.raises(UserError, match="does not belong"):
        load_model(a)


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"params": Evil()}, fh, protocol=2)
    with pytest.raises(UserError, match="refused"):
        load_pth_state_dict(path)
    assert not marker.exists()
    # torch.save's zip format with the same payload is refused as well
    zpath = tmp_path / "evil_zip.pth"
    torch.save({"params_ema": Evil()}, zpath)
    assert not marker.exists()
    with pytest.raises(UserError, match="refused"):
        load_pth_state_dict(zpath)
    assert not marker.exists()


def test_pth_unwrapping_prefers_params_ema_and_strips_module_prefix(tmp_path):
    ema = {"module.w": torch.ones(2)}
    path = tmp_path / "ck.pth"
    torch.save({"params": {"w": torch.zeros(2)}, "params_ema": ema}, path)
    assert torch.equal(load_pth_state_dict(path)["w"], torch.ones(2))
    assert torch.equal(load_pth_state_dict(path, key="params")["w"], torch.zeros(2))
    with pytest.raises(UserError, match="no key 'net_g'"):
        load_pth_state_dict(path, key="net_g")


def _esrgan_rename(key: str, num_block: int, sequential: bool) -> str:
    """The inverse mapping, written out independently: BasicSR name -> old ESRGAN name."""
    module, kind = key.rsplit(".", 1)
    if module.startswith("body."):
        _, b, rdb, conv = module.split(".")
        if sequential:
            return f"model.1.sub.{b}.{rdb.upper()}.{conv}.0.{kind}"
        return f"RRDB_trunk.{b}.{rdb.upper()}.{conv}.{kind}"
    if sequential:
        seq = {
            "conv_first": "model.0",
            "conv_body": f"model.1.sub.{num_block}",
            "conv_up1": "model.3",
            "conv_up2": "model.6",
            "conv_hr": "model.8",
            "conv_last": "model.10",
        }
        return f"{seq[module]}.{kind}"
    old = {
        "conv_first": "conv_first",
        "conv_body": "trunk_conv",
        "conv_up1": "upconv1",
        "conv_up2": "upconv2",
        "conv_hr": "HRconv",
        "conv_last": "conv_last",
    }
    return f"{old[module]}.{kind}"


@pytest.mark.parametrize("sequential", [False, True])
def test_old_esrgan_names_map_to_basicsr(tmp_path, sequential):
    net = build_arch("rrdbnet", seed=3, **TINY).eval()
    old = {_esrgan_rename(k, 2, sequential): v for k, v in net.state_dict().items()}
    assert "RRDB_trunk.1.RDB3.conv5.weight" in old or "model.1.sub.1.RDB3.conv5.0.weight" in old
    assert detect_rrdb_naming(old) == ("esrgan-sequential" if sequential else "esrgan")
    mapped, _ = to_basicsr_names(old)
    assert set(mapped) == {f"{n}.{k}" for n in rrdbnet_conv_names(2) for k in ("weight", "bias")}
    # through the CLI: a KAIR/RealSR-style flat .pth becomes a loadable model with the same outputs
    pth = tmp_path / "old.pth"
    torch.save(old, pth)
    out = tmp_path / "old.safetensors"
    assert main(["weights", "import-pth", "--pth", str(pth), "--arch", "rrdbnet", "--out", str(out)]) == 0
    loaded = load_model(out)
    assert loaded.hyperparameters == net.hyperparameters
    assert loaded.checkpoint_info["extra"]["key_naming"] == ("esrgan-sequential" if sequential else "esrgan")
    with torch.no_grad():
        assert torch.equal(loaded(_x()), net(_x()))
    bad = dict(old)
    bad["mystery.weight"] = torch.zeros(1)
    with pytest.raises(UserError, match=r"mystery\.weight"):
        to_basicsr_names(bad)


def test_import_pth_checks_given_hyperparameters_and_shapes(tmp_path, capsys):
    net = build_arch("rrdbnet", scale=1, **TINY)
    pth = tmp_path / "x1.pth"
    torch.save({"params_ema": net.state_dict()}, pth)
    out = tmp_path / "x1.safetensors"
    assert (
        main(["weights", "import-pth", "--pth", str(pth), "--arch", "rrdbnet", "--scale", "4", "--out", str(out)]) == 1
    )
    assert "scale=1" in capsys.readouterr().err and not out.exists()
    assert main(["weights", "import-pth", "--pth", str(pth), "--arch", "rrdbnet", "--out", str(out)]) == 0
    assert load_model(out).hyperparameters["scale"] == 1
    state = net.state_dict()
    state["conv_last.weight"] = state["conv_last.weight"][:, :4]
    torch.save(state, pth)
    assert (
        main(
            ["weights", "import-pth", "--pth", str(pth), "--arch", "rrdbnet", "--out", str(tmp_path / "y.safetensors")]
        )
        == 1
    )
    assert "conv_last.weight" in capsys.readouterr().err
