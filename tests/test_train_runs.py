"""The study protocol in the DVC graph: seed fan-out, one Real-ESRNet per recipe, run/model names.

Derived from dvc.yaml + params.yaml as DVC itself resolves them, for the committed (smoke) profile
and, on a copy, for the study profile (several seeds).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from replication.artifacts.runs import (
    gan_runs,
    model_name,
    net_owner,
    net_runs,
    parse_model,
    retrained_models,
    variant_seeds,
)
from replication.params import load_params
from replication.params_cli import switch_profile
from replication.report.config import expected_pipeline_lists
from replication.strict import from_dict
from replication.train.config import VariantConfig

ROOT = Path(__file__).resolve().parents[1]
D_ONLY = ("vgg_disc", "unet_no_sn")  # differ from `full` only in the discriminator


def _variant(degradation="second_order", sharpened=True, disc="unet", sn=True) -> VariantConfig:
    return VariantConfig("x", degradation, sharpened, disc, sn)


def test_one_net_per_recipe_and_a_gan_per_variant_and_seed():
    variants = {
        "a": _variant(),
        "plain": _variant(sharpened=False),
        "d_only": _variant(disc="vgg", sn=False),
        "fo": _variant("first_order"),
        "sn_off": _variant(sn=False),
    }
    assert net_owner(variants) == {"a": "a", "plain": "plain", "d_only": "a", "fo": "fo", "sn_off": "a"}
    nets = net_runs(variants, (3, 7))
    assert list(nets) == ["a-s3", "a-s7", "plain-s3", "plain-s7", "fo-s3", "fo-s7"]
    gans = gan_runs(variants, (3, 7))
    assert len(gans) == len(variants) * 2
    assert gans["d_only-s7"].net == "a" and gans["d_only-s7"].seed == 7
    assert retrained_models({"a": variants["a"], "d_only": variants["d_only"]}, (0,)) == [
        "a-s0-net",
        "a-s0",
        "d_only-s0",
    ]


def test_single_seed_variants_train_at_the_first_seed_and_keep_the_nets_others_need():
    variants = {"a": _variant(), "d_only": _variant(disc="vgg", sn=False), "fo": _variant("first_order")}
    # `a` at one seed: its GAN run only at seed 3, but its Real-ESRNet at every seed `d_only` needs.
    nets = net_runs(variants, (3, 7), ("a", "fo"))
    assert list(nets) == ["a-s3", "a-s7", "fo-s3"]
    gans = gan_runs(variants, (3, 7), ("a", "fo"))
    assert list(gans) == ["a-s3", "d_only-s3", "d_only-s7", "fo-s3"]
    assert retrained_models(variants, (3, 7), ("a", "fo")) == [
        "a-s3-net",
        "a-s3",
        "a-s7-net",
        "d_only-s3",
        "d_only-s7",
        "fo-s3-net",
        "fo-s3",
    ]


@pytest.mark.parametrize(
    ("name", "parsed"),
    [("full-s0", ("full", 0, "gan")), ("bsrgan_degradation-s12-net", ("bsrgan_degradation", 12, "net"))],
)
def test_model_names_round_trip(name, parsed):
    m = parse_model(name)
    assert (m.variant, m.seed, m.phase) == parsed
    assert model_name(*parsed) == name


@pytest.mark.parametrize("name", ["bicubic", "realesrgan_x4plus", "full", "full-net", "full-sx"])
def test_other_model_names_are_not_retrained_models(name):
    assert parse_model(name) is None


def _stages(root: Path) -> dict:
    pytest.importorskip("dvc")
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {s.name: s for s in repo.index.stages if hasattr(s, "name")}


def _flag(cmd: str, flag: str) -> str:
    return re.search(rf"{flag} (\S+)", cmd).group(1)


def check_graph(root: Path) -> None:
    """No two train stages train the same recipe; D-only variants' GAN stages depend on `full`'s
    Real-ESRNet of the same seed; every variant x seed has a GAN stage and evaluations of both phases."""
    params = load_params(root / "params.yaml")
    p = params.active
    stages = _stages(root)
    trained = {}
    for name, stage in stages.items():
        if not name.startswith("train_net@"):
            continue
        variant, seed = _flag(stage.cmd, "--variant"), int(_flag(stage.cmd, "--seed"))
        assert _flag(stage.cmd, "--phase") == "net"
        recipe = (params.variants[variant].recipe(), p.network, seed)
        assert recipe not in trained, f"{name} trains the same recipe as {trained[recipe]}"
        trained[recipe] = name
    seeds = {v: variant_seeds(v, p.seeds, p.single_seed_variants) for v in params.variants}
    distinct = {(params.variants[v].recipe(), s) for v in params.variants for s in seeds[v]}
    assert len(trained) == len(distinct) < sum(map(len, seeds.values()))

    for variant in params.variants:
        for seed in p.seeds:
            run = f"{variant}-s{seed}"
            if seed not in seeds[variant]:
                assert f"train_gan@{run}" not in stages and f"eval_gan@{run}" not in stages
                continue
            gan = stages[f"train_gan@{run}"]
            assert int(_flag(gan.cmd, "--seed")) == seed
            net_model = _flag(gan.cmd, "--init")
            assert net_model in {str(d.def_path) for d in gan.deps}
            owner = "full" if variant in D_ONLY else variant
            assert net_model == f"runs/{owner}-s{seed}/net/model.safetensors"
            assert (f"train_net@{run}" in stages) == (variant not in D_ONLY)
            assert f"eval_gan@{run}" in stages
            assert (f"eval_net@{run}" in stages) == (variant not in D_ONLY)
            if variant not in D_ONLY:
                outs = {str(o.def_path) for o in stages[f"eval_net@{run}"].outs}
                assert outs == {f"results/{run}-net"}


def test_committed_graph_follows_the_protocol():
    check_graph(ROOT)


def test_study_graph_fans_out_over_five_seeds_with_single_seed_retrains(tmp_path):
    pytest.importorskip("dvc")
    from dvc.repo import Repo

    Repo.init(str(tmp_path), no_scm=True)
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    switch_profile(str(tmp_path / "params.yaml"), "study")
    params = load_params(tmp_path / "params.yaml")
    study = params.active
    assert params.profile == "study" and len(study.seeds) >= 5  # the claims need 5 seeds (claims.yaml)
    lists = expected_pipeline_lists(study, params.variants, params.profile)
    assert params.pipeline == lists and lists.report_dir == "reports/study"
    first = min(study.seeds)
    assert set(lists.gan_runs) == {
        f"{v}-s{s}" for v in params.variants for s in study.seeds if v not in study.single_seed_variants or s == first
    }
    check_graph(tmp_path)


def test_pipeline_lists_follow_the_seeds(tmp_path):
    import yaml

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["profiles"]["smoke"]["seeds"] = [5, 9]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    from replication.strict import ParamsError

    with pytest.raises(ParamsError, match=r"seeds, net_runs, gan_runs differ from profile 'smoke'"):
        load_params(path)
    variants = {k: from_dict(VariantConfig, v) for k, v in raw["variants"].items()}
    assert sorted(net_runs(variants, (5, 9))) == sorted(
        f"{v}-s{s}" for v in variants if v not in D_ONLY for s in (5, 9)
    )
    raw["profiles"]["smoke"]["seeds"] = [1, 1]
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError, match="seeds must be distinct"):
        load_params(path, profile="smoke")


def test_training_notes_are_read_from_the_sidecars(tmp_path):
    import json

    from replication.artifacts.runs import trained_model_notes

    def sidecar(run, phase, **extra):
        path = tmp_path / run / phase / "model.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"extra": extra}))

    sidecar("full-s0", "net", paper_scale_deviations=[], perceptual_vgg="n/a")
    sidecar("vgg_disc-s1", "gan", paper_scale_deviations=["total batch 12"], perceptual_vgg="untrained")
    sidecar("not-a-run", "gan", perceptual_vgg="imagenet")
    (tmp_path / "full-s0" / "gan").mkdir()
    (tmp_path / "full-s0" / "gan" / "model.json").write_text("{broken")
    assert trained_model_notes(tmp_path) == {
        "full-s0-net": {"paper_scale_deviations": [], "perceptual_vgg": "n/a"},
        "vgg_disc-s1": {"paper_scale_deviations": ["total batch 12"], "perceptual_vgg": "untrained"},
    }
    assert trained_model_notes(tmp_path / "missing") == {}
