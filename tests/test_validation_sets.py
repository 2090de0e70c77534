"""Extra synthetic validation sets (validation.extra_variants): params, pipeline lists and dvc.yaml stages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from replication.params import load_params
from replication.strict import ParamsError

ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_every_profile_has_a_first_order_held_out_set():
    for profile in ("smoke", "study", "study-gpu", "paper"):
        v = load_params(ROOT / "params.yaml", profile=profile).active.validation
        # first-order: the in-distribution set of the first_order ablation; the study adds a neutral one (bsrgan)
        assert v.variant == "second_order" and v.extra_variants[0] == "first_order"
        assert "ringing" in v.metrics  # the sinc claim's measure runs on every synthetic set


def test_extra_variants_are_checked(tmp_path):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["profiles"]["smoke"]["validation"]["extra_variants"] = ["second_order"]  # = validation.variant
    with pytest.raises(ParamsError, match="repeats a variant"):
        load_params(_write(tmp_path, raw))
    raw["profiles"]["smoke"]["validation"]["extra_variants"] = ["sharp"]
    with pytest.raises(ParamsError, match="extra_variants"):
        load_params(_write(tmp_path, raw))
    raw["profiles"]["smoke"]["validation"]["extra_variants"] = ["first_order", "no_sinc"]
    with pytest.raises(ParamsError, match="val_variants differ") as exc:
        load_params(_write(tmp_path, raw))
    assert "val_variants: [first_order, no_sinc]" in str(exc.value)


def test_dvc_yaml_synthesises_and_scores_every_extra_set():
    pytest.importorskip("dvc")
    from dvc.repo import Repo

    params = load_params(ROOT / "params.yaml")
    heldout = params.active.validation.dataset
    with Repo(str(ROOT)) as repo:
        stages = {s.name: s for s in repo.index.stages if hasattr(s, "name")}
    for variant in params.active.validation.extra_variants:
        synth = stages[f"synthesize_val_extra@{variant}"]
        assert f"--variant {variant}" in synth.cmd and "--device cpu" in synth.cmd
        assert [str(o.def_path) for o in synth.outs] == [f"data/val-extra/{variant}"]
    # Every model is scored on every extra set by its one evaluation stage, which reads data/val-extra
    # (evaluate-all names the set val-<heldout>-<variant>: tests/test_evaluate_suite.py).
    scored = [stages["eval_bicubic"]]
    scored += [stages[f"eval_official@{b}"] for b in params.pipeline.baselines]
    scored += [stages[f"eval_gan@{run}"] for run in params.pipeline.gan_runs]
    scored += [stages[f"eval_net@{run}"] for run in params.pipeline.net_runs]
    for stage in scored:
        assert "--val-extra data/val-extra " in stage.cmd and "--threads " in stage.cmd
        assert "data/val-extra" in {str(d.def_path) for d in stage.deps}
        assert f"profiles.{params.profile}.validation" in {p for d in stage.deps for p in getattr(d, "params", [])}
    assert heldout  # the sets' names derive from it
