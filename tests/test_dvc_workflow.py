"""Where people start with DVC (docs/dvc.md §9): on a fresh clone (the project's dvc.yaml, params.yaml,
dvc.lock and committed tables, nothing produced yet) the dry runs print the plan, `dvc metrics show`
lists a few columns without a warning, and `dvc exp show` has rows of a readable length."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("dvc")

ROOT = Path(__file__).resolve().parents[1]
# What a clone holds that DVC reads: the pipeline, its params and lock, and the committed report tables.
FILES = (
    "dvc.yaml",
    "dvc.lock",
    "params.yaml",
    "data.dvc",
    ".dvcignore",
    ".gitignore",
    ".dvc/config",
    ".dvc/plots/training_curves.json",
    "reports/headline.json",
    "reports/metrics.json",
    "reports/summary.csv",
    "reports/curves.tsv",
    "reports/claims.csv",
)


def _run(cwd: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "dvc", *argv[1:]] if argv[0] == "dvc" else list(argv)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"{' '.join(proc.args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    tmp = tmp_path_factory.mktemp("fresh")
    env = dict(os.environ, DVC_NO_ANALYTICS="1", DVC_STUDIO_OFFLINE="1", HOME=str(tmp / "home"))
    env.update(
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@x.invalid", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@x.invalid"
    )
    (tmp / "home").mkdir()
    repo = tmp / "repo"
    for name in FILES:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, repo / name)
    _ok(_run(repo, env, "git", "init", "-q", "-b", "main"))
    _ok(_run(repo, env, "dvc", "config", "--local", "core.site_cache_dir", str(repo / ".dvc" / "site_cache")))
    _ok(_run(repo, env, "git", "add", "-f", *FILES))
    _ok(_run(repo, env, "git", "commit", "-q", "-m", "fresh clone"))
    return repo, env


def _stage_names(repo: Path, env: dict[str, str]) -> set[str]:
    out = _ok(_run(repo, env, "dvc", "stage", "list", "--name-only"))
    return {line.strip() for line in out.splitlines() if line.strip()}


def test_dry_runs_print_the_whole_plan_on_a_fresh_clone(clone):
    repo, env = clone
    stages = _stage_names(repo, env)
    out = _ok(_run(repo, env, "dvc", "repro", "--dry", "--force"))
    assert set(re.findall(r"Running stage '([^']+)'", out)) == stages
    params = (repo / "params.yaml").read_text()
    out = _ok(_run(repo, env, "dvc", "exp", "run", "--dry", "--force", "-S", "variants.no_sinc.discriminator=vgg"))
    assert "Running stage 'train_gan@no_sinc-s0'" in out
    assert (repo / "params.yaml").read_text() == params  # a dry run leaves the workspace as it was


def test_metrics_show_is_short_and_quiet_on_a_fresh_clone(clone):
    repo, env = clone
    proc = _run(repo, env, "dvc", "metrics", "show", "--json")
    shown = json.loads(_ok(proc))
    assert "failed to load" not in proc.stderr
    (workspace,) = shown.values()  # one revision: the workspace (DVC names it "" or "workspace")
    files = workspace["data"]
    assert list(files) == ["reports/headline.json"]

    def leaves(x) -> int:
        return sum(leaves(v) for v in x.values()) if isinstance(x, dict) else 1

    assert 0 < leaves(files["reports/headline.json"]["data"]) <= 50


def test_exp_show_rows_stay_readable_with_the_documented_filter(clone):
    repo, env = clone
    out = _ok(_run(repo, env, "dvc", "exp", "show", "--md", "--drop", ".*", "--keep", "Experiment|.*_test$|.*_val$"))
    lines = [line for line in out.splitlines() if line.startswith("|")]
    assert "niqe_test" in lines[0] and "workspace" in out
    assert max(len(line) for line in lines) < 2000


def test_params_header_switches_profile_as_the_docs_say():
    header = []
    for line in (ROOT / "params.yaml").read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    text = "\n".join(header)
    assert "replication params --switch" in text
    assert "replication params --switch" in (ROOT / "docs/pipeline.md").read_text()
    # `dvc exp run -S profile=...` alone cannot switch (the pipeline: block must change too): only
    # ever mentioned as what fails
    for line in (ROOT / "params.yaml").read_text().splitlines():
        if "-S profile=" in line:
            assert "fails" in line, line
