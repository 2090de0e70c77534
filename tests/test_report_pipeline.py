"""dvc.yaml against params.yaml, the `pipeline:` lists, `params --get`, dvc_args, and `replication report`
end to end on a fake run directory."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from replication.artifacts.metrics_table import TIDY_COLUMNS
from replication.cli import main
from replication.dvc_args import main as dvc_args_main
from replication.imageio import write_image
from replication.params import load_params
from replication.report.claims import CSV_COLUMNS, NOT_MEASURABLE
from replication.report.claims_def import load_claims
from replication.report.config import expected_pipeline_lists
from replication.strict import ParamsError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stages():
    pytest.importorskip("dvc")
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        return {s.name: s for s in repo.index.stages if hasattr(s, "name")}


def _params_of(stage) -> list[str]:
    from dvc.dependency.param import ParamsDependency

    return [p for d in stage.deps if isinstance(d, ParamsDependency) for p in d.params]


def test_dvc_yaml_fans_out_over_every_variant_set_and_baseline(stages):
    params = load_params(ROOT / "params.yaml")
    lists = expected_pipeline_lists(params.active, params.variants)

    # One evaluation stage per model (replication evaluate-all), writing results/<model>/ whole.
    def evaluates(stage: str, model: str) -> None:
        assert stage in stages, stage
        assert [str(o.def_path) for o in stages[stage].outs] == [f"results/{model}"]
        assert "replication evaluate-all " in stages[stage].cmd and f"--name {model} " in stages[stage].cmd
        deps = {str(d.def_path) for d in stages[stage].deps}
        assert {"data/test", "data/val", "data/val-extra"} <= deps

    for run in lists.gan_runs:
        assert f"train_gan@{run}" in stages
        evaluates(f"eval_gan@{run}", run)
    for run in lists.net_runs:
        assert f"train_net@{run}" in stages
        evaluates(f"eval_net@{run}", f"{run}-net")
    assert {r.variant for r in lists.gan_runs.values()} == set(params.variants)
    for b in lists.baselines:
        assert f"weights@{b}" in stages
        evaluates(f"eval_official@{b}", b)
    evaluates("eval_bicubic", "bicubic")
    for t in lists.test_sets:
        assert f"download_test@{t}" in stages
    assert {f"download_train@{s}" for s in lists.train_sets} <= set(stages)
    assert {"prepare", "synthesize_val", "preview", "pretrained", "download_heldout", "report"} <= set(stages)


def test_every_stage_param_exists_and_reads_only_the_active_profile(stages):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    active = raw["profile"]
    for name, stage in stages.items():
        for key in _params_of(stage):
            node = raw
            for part in key.split("."):
                assert isinstance(node, dict) and part in node, f"{name}: params key {key} not in params.yaml"
                node = node[part]
            if key.startswith("profiles."):
                assert key.split(".")[1] == active, f"{name}: reads another profile's key {key}"
    # a variant's stages depend on that variant only: changing one re-runs only its stages
    assert "variants.no_sinc" in _params_of(stages["train_net@no_sinc-s0"])
    assert not any(
        k.startswith("variants.") and k != "variants.no_sinc" for k in _params_of(stages["train_net@no_sinc-s0"])
    )


def test_checkpoints_are_persisted_cached_outputs(stages):
    stage = stages["train_gan@full-s0"]
    outs = {str(o.def_path): o for o in stage.outs}
    ckpt = outs["runs/full-s0/gan/checkpoints"]
    assert ckpt.persist and ckpt.use_cache
    assert outs["runs/full-s0/gan/dvclive/metrics.json"].persist
    assert outs["runs/full-s0/gan/dvclive/plots"].persist
    # every stage that runs package code lists it as a dependency
    for name, s in stages.items():
        if "replication " in s.cmd or "replication." in s.cmd:
            assert any(str(d.def_path).startswith("replication") for d in s.deps), name


def _raw_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_pipeline_lists_must_match_the_active_profile(tmp_path):
    raw = _raw_params()
    raw["profile"] = "study"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(
        ParamsError, match=r"pipeline: train_sets, test_sets, baselines, .*seeds, net_runs, gan_runs, report_dir differ"
    ) as exc:
        load_params(path)
    assert "test_sets: [realsrset, realesrgan-inputs, realset-extra]" in str(exc.value)
    # the study's report has its own directory, so a CI run of the default profile cannot overwrite it
    assert "report_dir: reports/study" in str(exc.value)
    assert raw["pipeline"]["report_dir"] == "reports"
    assert load_params(path, profile="smoke").profile == "smoke"  # an explicit override is not checked
    del raw["pipeline"]
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError, match="pipeline: missing key"):
        load_params(path)


def test_validation_set_is_never_a_training_set(tmp_path):
    raw = _raw_params()
    raw["profiles"]["study"]["validation"]["dataset"] = "urban100-subset"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError, match=r"profiles\.study: validation\.dataset 'urban100-subset' is a training set"):
        load_params(path)


def test_params_get_prints_shell_values(capsys):
    assert main(["params", "--params", str(ROOT / "params.yaml"), "--get", "validation.metrics"]) == 0
    assert capsys.readouterr().out == "psnr ssim ringing\n"
    assert (
        main(["params", "--params", str(ROOT / "params.yaml"), "--profile", "paper", "--get", "pipeline.pretrained"])
        == 0
    )
    assert capsys.readouterr().out == "esrgan_df2kost vgg19_imagenet\n"
    assert (
        main(["params", "--params", str(ROOT / "params.yaml"), "--get", "validation.nope"]) == 2
    )  # an unknown key given to a flag: usage error
    assert "no key 'nope' under profiles.smoke.validation" in capsys.readouterr().err


def test_dvc_args(tmp_path, capsys):
    (tmp_path / "set14" / "HR").mkdir(parents=True)
    assert dvc_args_main(["image-dir", str(tmp_path), "set14"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "set14" / "HR")
    model = tmp_path / "m.safetensors"
    (tmp_path / "m.json").write_text(json.dumps({"fp16_rounded": True}))
    assert dvc_args_main(["source", str(model)]) == 0
    assert capsys.readouterr().out.strip() == "official-fp16-rounded"
    (tmp_path / "m.json").write_text(json.dumps({"fp16_rounded": False}))
    dvc_args_main(["source", str(model)])
    assert capsys.readouterr().out.strip() == "official"
    assert dvc_args_main(["source", str(tmp_path / "none.safetensors")]) == 2
    assert "sidecar not found" in capsys.readouterr().err


def _fake_run(root: Path) -> None:
    """results/<model>/<dataset>/{metrics.csv,images/}, runs/<v>/<phase>/dvclive, data/test/<set>/<set>/."""
    gen = torch.Generator().manual_seed(0)
    lr_dir = root / "data/test/realsrset/realsrset"
    for name in ("a", "b"):
        write_image(lr_dir / f"{name}.png", torch.rand(1, 3, 12, 12, generator=gen))
    models = [
        ("bicubic", "bicubic", 7.0),
        ("realesrgan_x4plus", "official-fp16-rounded", 4.0),
        ("full-s0", "retrained-smoke", 6.0),
    ]
    for model, source, niqe in models:
        out = root / "results" / model / "realsrset"
        for name in ("a", "b"):
            write_image(out / "images" / f"{name}.png", torch.rand(1, 3, 48, 48, generator=gen))
        with open(out / "metrics.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(TIDY_COLUMNS)
            for i, name in enumerate(("a.png", "b.png")):
                w.writerow([model, source, "smoke", "realsrset", "first 2 of 20", name, "niqe", niqe + i, "true"])
        val = root / "results" / model / "val-set14"
        val.mkdir(parents=True)
        with open(val / "metrics.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(TIDY_COLUMNS)
            for i in range(3):
                w.writerow([model, source, "smoke", "val-set14", "full", f"{i:06d}.png", "psnr", 20 + i, "false"])
    tsv = root / "runs/full-s0/net/dvclive/plots/metrics/train/l_g_pix.tsv"
    tsv.parent.mkdir(parents=True)
    tsv.write_text("step\tl_g_pix\n0\t0.5\n5\t0.3\n")
    write_image(root / "preview.png", torch.rand(1, 3, 16, 16, generator=gen))


def test_report_cli_end_to_end(tmp_path, capsys):
    _fake_run(tmp_path)
    out = tmp_path / "reports"
    code = main(
        [
            "report",
            "--params",
            str(ROOT / "params.yaml"),
            "--claims",
            str(ROOT / "claims.yaml"),
            "--results",
            str(tmp_path / "results"),
            "--runs",
            str(tmp_path / "runs"),
            "--test-root",
            str(tmp_path / "data/test"),
            "--val-name",
            "val-set14",
            "--previews",
            str(tmp_path / "preview.png"),
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    html = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    assert html.count("<figure><img") == 3  # curves (net), the realsrset grid, the preview
    assert 'id="cmp-data"' in html and "Compare any two models" in md  # the before/after slider
    assert not re.search(r'(src|href)="(?!data:)', html)
    assert "— / 4.5000" in md  # realesrgan_x4plus on realsrset: not in the paper, ours = mean(4, 5)
    assert "— / 6.5000" in md and "`full` (seed 0)" in md  # full (Real-ESRGAN+ column): one row, its seeds
    # `dvc metrics show` lists headline.json: two numbers per compared model, variants over their seeds
    assert json.loads((out / "headline.json").read_text()) == {
        "bicubic": {"niqe_test": 7.5, "psnr_val": 21.0},
        "realesrgan_x4plus": {"niqe_test": 4.5, "psnr_val": 21.0},
        "full": {"niqe_test": 6.5, "psnr_val": 21.0},
    }
    assert "`dan` not available" in md and "first 2 of 20" in md
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["realsrset"]["bicubic"]["niqe"] == 7.5
    assert metrics["val-set14"]["full-s0"]["psnr"] == 21.0
    summary = (out / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("model,source,profile,dataset,subset,metric") and len(summary) == 7
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (out / link).is_file()
    # the verdict table as data: one row per evidence line, the same verdicts as the report's table
    claims = pd.read_csv(out / "claims.csv")
    declared = sum(len(c.lines) for c in load_claims(ROOT / "claims.yaml").claims)
    assert tuple(claims.columns) == CSV_COLUMNS and len(claims) == declared  # one row per declared line here
    for verdict in claims["verdict"]:
        assert f"**{verdict}**" in md
    assert set(claims["verdict"]) == {NOT_MEASURABLE}  # one seed, or not run
    assert claims["reason"].str.contains("1 seed|not run").all()
    # the per-image metrics beside it recompute the same claims.csv (replication claims)
    code = main(
        [
            "claims",
            "--params",
            str(ROOT / "params.yaml"),
            "--claims",
            str(ROOT / "claims.yaml"),
            "--results",
            str(out / "tidy.csv.gz"),
            "--runs",
            str(out / "curves.tsv"),
            "--out",
            str(tmp_path / "claims.csv"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "claims.csv").read_bytes() == (out / "claims.csv").read_bytes()


def test_report_refuses_metrics_of_another_profile(tmp_path, capsys):
    _fake_run(tmp_path)
    code = main(
        [
            "report",
            "--params",
            str(ROOT / "params.yaml"),
            "--profile",
            "study",
            "--results",
            str(tmp_path / "results"),
            "--runs",
            str(tmp_path / "runs"),
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert code == 1 and "metrics of profile(s) smoke" in capsys.readouterr().err


@pytest.mark.parametrize("profile", ["smoke", "study", "study-gpu", "paper"])
def test_every_variant_passes_the_trainers_config_checks(tmp_path, profile):
    """The trainer's up-front checks (discriminator input size, crops, USM) for every variant × phase of
    every profile, so a bad combination fails here and not after an hour of `dvc repro`. The checks stop
    at the missing data folder, which comes after every config check."""
    from replication.errors import UserError
    from replication.train.loop import RunOptions, preflight

    params = load_params(ROOT / "params.yaml", profile=profile)
    for variant in params.variants:
        for phase in ("net", "gan"):
            opts = RunOptions(
                params_path=ROOT / "params.yaml",
                profile=profile,
                variant=variant,
                phase=phase,
                data=tmp_path / "no-data",
                out=tmp_path / "out",
                init="scratch",
                models_dir=tmp_path,
                vgg_weights=tmp_path / "vgg.pth",
            )
            with pytest.raises(UserError, match=r"--data .*not a directory"):
                preflight(opts)


def test_committed_lock_has_no_entry_of_a_removed_stage(stages):
    # DVC keeps the lock entries of stages that dvc.yaml no longer defines; stale ones would hide that
    # the lock no longer describes the pipeline.
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())
    assert sorted(set(lock["stages"]) - set(stages)) == []
