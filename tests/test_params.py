"""Strict loading of params.yaml: every profile valid; unknown/missing/mistyped keys named."""

from __future__ import annotations

import copy
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
import yaml

from replication.params import fingerprint, load_params
from replication.strict import ParamsError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def raw():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def _write(tmp_path, data) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_committed_params_load_in_every_profile():
    params = load_params(ROOT / "params.yaml")
    assert params.profile == "smoke"
    assert set(params.profiles) == {"smoke", "study", "study-gpu", "paper"}
    for name in params.profiles:
        assert load_params(ROOT / "params.yaml", profile=name).active == params.profiles[name]
    assert set(params.variants) >= {"full", "first_order", "no_sinc", "vgg_disc", "unet_no_sn"}


def test_paper_profile_holds_the_papers_recipe():
    paper = load_params(ROOT / "params.yaml", profile="paper").active
    assert paper.real_scale is True
    assert (paper.network.num_feat, paper.network.num_block, paper.network.num_grow_ch) == (64, 23, 32)
    assert paper.train_net.lr == 2e-4 and paper.train_gan.lr == 1e-4
    assert paper.train_net.iters == 1_000_000 and paper.train_gan.iters == 400_000
    assert paper.train_net.gt_size == 256 and paper.degradation.pool_size == 180
    assert paper.train_gan.gan_weight == 0.1
    assert paper.degradation.final_sinc_prob == 0.8


def test_wrong_type_names_the_key_path(tmp_path, raw):
    raw["profiles"]["smoke"]["train_net"]["lr"] = "2e-4"  # YAML 1.1 reads 2e-4 as a string
    with pytest.raises(ParamsError, match=r"profiles\.smoke\.train_net\.lr: expected float, got str '2e-4'"):
        load_params(_write(tmp_path, raw))


def test_unknown_key_is_an_error(tmp_path, raw):
    raw["profiles"]["paper"]["degradation"]["noise1"]["gausian_prob"] = 0.5
    with pytest.raises(ParamsError, match=r"profiles\.paper\.degradation\.noise1\.gausian_prob: unknown key"):
        load_params(_write(tmp_path, raw))


def test_missing_key_is_an_error(tmp_path, raw):
    del raw["profiles"]["paper"]["network"]["disc_num_feat"]
    with pytest.raises(ParamsError, match=r"profiles\.paper\.network\.disc_num_feat: missing key"):
        load_params(_write(tmp_path, raw))


def test_network_keys_follow_the_arch(tmp_path, raw):
    del raw["profiles"]["paper"]["network"]["num_block"]
    with pytest.raises(
        ParamsError, match=r"profiles\.paper\.network: num_block: missing key \(required by arch rrdbnet\)"
    ):
        load_params(_write(tmp_path, raw))
    raw["profiles"]["paper"]["network"]["num_block"] = 23
    raw["profiles"]["paper"]["network"]["num_conv"] = 4
    with pytest.raises(ParamsError, match=r"profiles\.paper\.network: num_conv: only used by arch srvgg"):
        load_params(_write(tmp_path, raw))


def test_bad_profile_is_an_error(tmp_path, raw):
    raw["profile"] = "huge"
    with pytest.raises(ParamsError, match=r"unknown profile 'huge'"):
        load_params(_write(tmp_path, raw))
    from replication.errors import UsageError

    with pytest.raises(UsageError, match="--profile 'nope': unknown profile"):  # a flag value: exit 2
        load_params(ROOT / "params.yaml", profile="nope")


def test_bool_is_not_an_int_and_literals_are_checked(tmp_path, raw):
    bad = copy.deepcopy(raw)
    bad["profiles"]["smoke"]["scale"] = True
    with pytest.raises(ParamsError, match=r"profiles\.smoke\.scale: expected int, got bool"):
        load_params(_write(tmp_path, bad))
    bad = copy.deepcopy(raw)
    bad["variants"]["full"]["discriminator"] = "patchgan"
    with pytest.raises(ParamsError, match=r"variants\.full\.discriminator: expected one of"):
        load_params(_write(tmp_path, bad))


def test_cross_field_validation(tmp_path, raw):
    raw["profiles"]["smoke"]["degradation"]["pool_size"] = 7
    with pytest.raises(ParamsError, match="pool_size 7 must be divisible"):
        load_params(_write(tmp_path, raw))


def test_single_seed_variants_must_name_variants_once(tmp_path, raw):
    raw["profiles"]["study"]["single_seed_variants"] = ["full", "nope"]
    with pytest.raises(ParamsError, match=r"profiles\.study\.single_seed_variants: unknown variant\(s\) 'nope'"):
        load_params(_write(tmp_path, raw))
    raw["profiles"]["study"]["single_seed_variants"] = ["full", "full"]
    with pytest.raises(ParamsError, match=r"single_seed_variants: a variant is listed twice"):
        load_params(_write(tmp_path, raw))


def test_variant_rules_are_checked_at_load(tmp_path, raw):
    bad = copy.deepcopy(raw)
    bad["variants"]["vgg_disc"]["spectral_norm"] = True
    with pytest.raises(ParamsError, match=r"variants\.vgg_disc: spectral_norm: the VGG-style discriminator has no"):
        load_params(_write(tmp_path, bad))
    bad = copy.deepcopy(raw)
    bad["profiles"]["study"]["train_gan"]["gt_size"] = 96  # not a power of two: the VGG discriminator cannot take it
    with pytest.raises(ParamsError, match=r"variants\.vgg_disc with profiles\.study: the VGG-style discriminator"):
        load_params(_write(tmp_path, bad))


@pytest.mark.parametrize(("section", "size"), [("train_net", 256), ("train_gan", 62), ("validation", 130)])
def test_gt_size_must_fit_the_crop_and_the_scale(tmp_path, raw, section, size):
    raw["profiles"]["smoke"][section]["gt_size"] = size  # smoke: gt_crop 128, scale 4
    with pytest.raises(ParamsError, match=rf"{section}\.gt_size {size} must be positive, at most degradation\.gt_crop"):
        load_params(_write(tmp_path, raw))


def test_params_are_frozen_and_fingerprint_is_stable():
    params = load_params(ROOT / "params.yaml")
    with pytest.raises(FrozenInstanceError):
        params.active.train_net.lr = 1.0  # type: ignore[misc]
    a = fingerprint(params.active.train_net, params.variants["full"])
    b = fingerprint(load_params(ROOT / "params.yaml").active.train_net, params.variants["full"])
    assert a == b and len(a) == 64
    assert a != fingerprint(params.active.train_gan, params.variants["full"])


def test_mirror_env_overrides_param(tmp_path, monkeypatch):
    params = load_params(ROOT / "params.yaml")
    monkeypatch.delenv("REPLICATION_MIRROR", raising=False)
    assert params.mirror_dir().resolve() == (ROOT / "../shared/mirror").resolve()
    monkeypatch.setenv("REPLICATION_MIRROR", str(tmp_path))
    assert params.mirror_dir() == tmp_path


def test_switch_profile_is_one_command_and_round_trips(tmp_path):
    from replication.cli import main

    path = tmp_path / "params.yaml"
    original = (ROOT / "params.yaml").read_text()
    path.write_text(original)
    assert main(["params", "--params", str(path), "--switch", "paper"]) == 0
    paper = load_params(path)  # loads: pipeline lists are consistent with the new profile
    assert paper.profile == "paper"
    assert "div2k-train-hr" in paper.pipeline.train_sets and "realsr-v3-canon" in paper.pipeline.test_sets
    assert "# Every experiment value" in path.read_text()  # comments survive
    assert main(["params", "--params", str(path), "--switch", "smoke"]) == 0
    assert load_params(path) == load_params(ROOT / "params.yaml").__class__(
        **{**load_params(ROOT / "params.yaml").__dict__, "source": str(path)}
    )
    assert main(["params", "--params", str(path), "--switch", "nope"]) == 2  # an unknown name: usage error


def test_contracts_doc_lists_the_registries_as_they_are():
    """docs/CONTRACTS.md names every dataset, weights entry, architecture and metric, and nothing else."""
    import re

    from replication.archs.registry import ARCHS
    from replication.archs.weights_registry import REGISTRY
    from replication.data.registry import datasets
    from replication.evaluate.registry import METRICS

    text = (ROOT / "docs" / "CONTRACTS.md").read_text()

    def listed(heading: str) -> set[str]:
        para = text.split(heading, 1)[1].split("\n\n", 1)[0]
        return set(re.findall(r"`([a-z0-9_-]+)`", para.split(":", 1)[1]))

    assert listed("Datasets (") == set(datasets())
    assert listed("Weights (") == set(REGISTRY)
    assert listed("Architectures (") == set(ARCHS)
    assert listed("Metrics (") == set(METRICS)
