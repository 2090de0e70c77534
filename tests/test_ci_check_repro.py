"""`.ci/check_repro.py`: the CI gate that `dvc repro` rewrote none of the committed lock and tables,
except the float-dependent outputs of network stages (then metrics must agree within tolerance)."""

from __future__ import annotations

import copy
import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("check_repro", ROOT / ".ci" / "check_repro.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_repro = _load()

LOCK = {
    "schema": "2.0",
    "stages": {
        "prepare": {
            "cmd": "replication prepare",
            "deps": [{"path": "replication/data", "md5": "c1.dir"}],
            "outs": [{"path": "data/prepared/train", "md5": "p1.dir"}],
        },
        "train_net@full": {
            "cmd": "replication train --threads 2",
            "deps": [{"path": "data/prepared/train", "md5": "p1.dir"}, {"path": "replication/train", "md5": "c2.dir"}],
            "params": {"params.yaml": {"variants.full": {"a": 1}}},
            "outs": [{"path": "runs/full/net/model.safetensors", "md5": "m1"}],
        },
        "eval_gan@full-s0": {
            "cmd": "replication evaluate --threads 2",
            "deps": [{"path": "runs/full/net/model.safetensors", "md5": "m1"}],
            "outs": [{"path": "results/full/set14", "md5": "r1.dir"}],
        },
        "report": {
            "cmd": "replication report",
            "deps": [{"path": "results", "md5": "R1.dir"}, {"path": "runs", "md5": "U1.dir"}],
            "outs": [{"path": "reports/metrics.json", "md5": "j1"}],
        },
    },
}
METRICS = {"set14": {"full": {"niqe": 5.0}, "bicubic": {"niqe": 7.0}}}


@pytest.fixture()
def repo(tmp_path, monkeypatch):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    monkeypatch.chdir(tmp_path)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    _write(LOCK, METRICS)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "base"], check=True)
    return tmp_path


def _write(lock: dict, metrics: dict) -> None:
    Path("dvc.lock").write_text(yaml.safe_dump(lock))
    Path("reports").mkdir(exist_ok=True)
    Path("reports/metrics.json").write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    Path("reports/summary.csv").write_text("model,metric,mean\nfull,niqe,5\n")
    Path("reports/curves.tsv").write_text("curve\tvariant\tstep\tvalue\n")
    Path("reports/claims.csv").write_text("claim,variant,verdict\nsinc,no_sinc,inconclusive at this scale\n")
    full = metrics.get("set14", {}).get("full", {}).get("niqe")
    Path("reports/headline.json").write_text(json.dumps({"full": {"niqe_test": full}}, indent=1) + "\n")


def _float_run(niqe: float) -> dict:
    """A run on another CPU type: the trained model, its evaluation and the report moved."""
    lock = copy.deepcopy(LOCK)
    st = lock["stages"]
    st["train_net@full"]["outs"][0]["md5"] = "m2"
    st["eval_gan@full-s0"]["deps"][0]["md5"] = "m2"
    st["eval_gan@full-s0"]["outs"][0]["md5"] = "r2.dir"
    st["report"]["deps"] = [{"path": "results", "md5": "R2.dir"}, {"path": "runs", "md5": "U2.dir"}]
    st["report"]["outs"][0]["md5"] = "j2"
    _write(lock, {"set14": {"full": {"niqe": niqe}, "bicubic": {"niqe": 7.0}}})
    return lock


def test_identical_run_passes(repo, capsys):
    assert check_repro.main([]) == 0
    assert "byte for byte" in capsys.readouterr().out


def test_a_stable_stage_that_moved_fails_and_is_named(repo, capsys):
    lock = copy.deepcopy(LOCK)
    lock["stages"]["prepare"]["outs"][0]["md5"] = "p2.dir"
    _write(lock, METRICS)
    assert check_repro.main([]) == 1
    assert "prepare: out data/prepared/train: p1.dir -> p2.dir" in capsys.readouterr().err


def test_float_dependent_outputs_may_move_within_metric_tolerance(repo, capsys):
    _float_run(niqe=5.004)  # 4e-3 <= 1e-3 + 1e-3 * 5
    assert check_repro.main([]) == 0
    assert "except the float-dependent outputs of 3 stage(s)" in capsys.readouterr().out
    assert check_repro.main(["--exact"]) == 1


def test_metrics_beyond_tolerance_fail(repo, capsys):
    _float_run(niqe=5.1)
    assert check_repro.main([]) == 1
    assert "set14.full.niqe: 5.0 -> 5.1" in capsys.readouterr().err


def test_code_or_command_changes_of_a_float_stage_still_fail(repo, capsys):
    lock = _float_run(niqe=5.0)
    lock["stages"]["train_net@full"]["deps"][1]["md5"] = "c3.dir"
    lock["stages"]["eval_gan@full-s0"]["cmd"] = "replication evaluate --threads 4"
    _write(lock, METRICS)
    assert check_repro.main([]) == 1
    err = capsys.readouterr().err
    assert "train_net@full: dep replication/train: c2.dir -> c3.dir" in err
    assert "eval_gan@full-s0: cmd changed" in err


def test_tables_that_moved_while_the_lock_did_not_fail(repo, capsys):
    Path("reports/summary.csv").write_text("model,metric,mean\nfull,niqe,6\n")
    assert check_repro.main([]) == 1
    assert "reports/summary.csv: differs from HEAD" in capsys.readouterr().err
