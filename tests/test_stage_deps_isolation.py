"""A trained model costs days at paper scale, so an edit that cannot change it must not make DVC re-run it.

Checked from what DVC itself compares in ``dvc status``, without running anything: each training stage's
resolved definition (command, dependency paths, params keys and their values, read by DVC's own parser
from ``dvc.yaml`` and a ``params.yaml``) and the import closure of its command. An edit to a code file is
invisible to a stage when no dep path of the stage covers the file (tests/test_dvc_deps.py proves the
deps cover every file the command can load); a params edit is invisible when the stage's params keys
have the same values. Covered: an edit to ``evaluate/``, ``report/``, the weights or dataset registry or
the cross-part params check, a new metric, test set or baseline, and a new seed (existing runs unchanged,
new stages added).
"""

from __future__ import annotations

import copy
import shutil
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_dvc_deps import _covered, closure, stage_modules

from replication.params import Profile
from replication.report.config import expected_pipeline_lists
from replication.strict import from_dict, to_dict
from replication.train.config import VariantConfig

ROOT = Path(__file__).resolve().parents[1]
TRAINING = ("train_net", "train_gan")
# Files whose edits must not reach a training stage (every file of evaluate/ and report/ included).
NOT_TRAINING = [
    "replication/archs/weights_registry.py",
    "replication/data/registry.py",
    "replication/data/small_sets.json",
    "replication/params.py",
    "replication/params_check.py",
    "replication/params_cli.py",
    *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "replication" / "evaluate").rglob("*.py")),
    *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "replication" / "report").rglob("*.py")),
]


def _resolve(tmp_path: Path, params: dict) -> dict[str, tuple]:
    """Every stage as DVC resolves it for ``params``: name -> (cmd, dep paths, {param key: value})."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    if not (tmp_path / ".dvc").exists():
        Repo.init(str(tmp_path), no_scm=True)
    repo = Repo(str(tmp_path))
    try:
        out = {}
        for stage in repo.index.stages:
            paths = tuple(d.def_path for d in stage.deps if not isinstance(d, ParamsDependency))
            values = {}
            for dep in stage.deps:
                if isinstance(dep, ParamsDependency):
                    values.update(dep.read_params())
            out[stage.name] = (stage.cmd, paths, values)
        return out
    finally:
        repo.close()


def _raw() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def _with_lists(raw: dict) -> dict:
    """``raw`` with its ``pipeline:`` block rederived for the active profile (as `params --switch` does)."""
    variants = {k: from_dict(VariantConfig, v, f"variants.{k}") for k, v in raw["variants"].items()}
    profile = from_dict(Profile, raw["profiles"][raw["profile"]], f"profiles.{raw['profile']}")
    raw["pipeline"] = to_dict(expected_pipeline_lists(profile, variants, raw["profile"]))
    return raw


def _training(stages: dict[str, tuple]) -> dict[str, tuple]:
    return {name: s for name, s in stages.items() if name.split("@")[0] in TRAINING}


@pytest.fixture(scope="module")
def before(tmp_path_factory) -> dict[str, tuple]:
    return _resolve(tmp_path_factory.mktemp("before"), _with_lists(_raw()))


def test_training_commands_import_no_registry_and_no_evaluation_or_report():
    modules = set()
    for stage in TRAINING:
        cmd = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"][stage]["do"]["cmd"]
        modules |= stage_modules(cmd)
    loaded = set().union(*(closure(m) for m in modules))
    assert modules == {"replication.train.cli", "replication.train.launch"}  # the launcher runs the command
    for forbidden in (*NOT_TRAINING, "replication/evaluate/config.py", "replication/report/config.py"):
        assert forbidden not in loaded, f"training loads {forbidden}"


def test_code_edits_elsewhere_leave_training_deps_unchanged(before):
    training = _training(before)
    assert len(training) >= 2
    for name, (_, paths, _) in training.items():
        reached = [f for f in NOT_TRAINING if _covered(f, list(paths))]
        assert not reached, f"{name}: an edit to {reached} would re-run it"
        # a new file in evaluate/ or report/ (a new metric's module) is not covered either
        assert not _covered("replication/evaluate/new_metric.py", list(paths))
        assert not _covered("replication/report/new_table.py", list(paths))


def _edit(raw: dict, change) -> dict:
    raw = copy.deepcopy(raw)
    change(raw["profiles"][raw["profile"]])
    return _with_lists(raw)


def _add_metric(profile: dict) -> None:
    from replication.evaluate.registry import METRICS

    extra = next(m for m in METRICS if m not in profile["evaluate"]["metrics"])
    profile["evaluate"]["metrics"].append(extra)
    profile["validation"]["metrics"].append(next(m for m in METRICS if m not in profile["validation"]["metrics"]))


def _add_test_set(profile: dict) -> None:
    from replication.data.registry import datasets

    profile["evaluate"]["test_sets"].append(next(n for n in datasets() if n not in profile["evaluate"]["test_sets"]))


def _add_baseline(profile: dict) -> None:
    from replication.archs.weights_registry import REGISTRY

    new = next(n for n, e in REGISTRY.items() if e.is_generator and n not in profile["evaluate"]["baselines"])
    profile["evaluate"]["baselines"].append(new)


def _report_and_evaluation_values(profile: dict) -> None:
    profile["report"]["grid_images"] += 1
    profile["evaluate"]["bootstrap_samples"] += 1
    profile["validation"]["count"] += 1


def test_params_edits_elsewhere_leave_training_stages_unchanged(tmp_path, before):
    """A new metric, test set and baseline, and other evaluation, validation and report values, at once
    (one DVC resolution: each costs seconds); the evaluation stages do see them."""

    def everything_elsewhere(profile: dict) -> None:
        for change in (_add_metric, _add_test_set, _add_baseline, _report_and_evaluation_values):
            change(profile)

    after = _resolve(tmp_path, _edit(_raw(), everything_elsewhere))
    assert _training(after) == _training(before)
    assert after["eval_bicubic"] != before["eval_bicubic"]


def test_a_new_seed_adds_stages_and_leaves_the_existing_ones_unchanged(tmp_path, before):
    def add_seed(profile: dict) -> None:
        profile["seeds"] = [*profile["seeds"], max(profile["seeds"]) + 1]

    after = _training(_resolve(tmp_path, _edit(_raw(), add_seed)))
    old = _training(before)
    assert set(old) < set(after)  # new runs for the new seed
    assert {name: after[name] for name in old} == old


def test_a_training_value_does_reach_training(tmp_path, before):
    """The comparison is not vacuous: a value training reads changes its stages."""

    def more_iters(profile: dict) -> None:
        profile["train_gan"]["iters"] += 1

    after = _training(_resolve(tmp_path, _edit(_raw(), more_iters)))
    changed = {name for name in after if after[name] != _training(before)[name]}
    assert changed and all(name.startswith("train_gan@") for name in changed)
