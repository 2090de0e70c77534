"""The committed report tables work with DVC's history commands: `dvc metrics diff HEAD~1` and
`dvc plots diff HEAD~1` on the project's own dvc.yaml (one overlaid training-curves chart)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("dvc")

ROOT = Path(__file__).resolve().parents[1]


def _run(cwd: Path, env: dict[str, str], *argv: str) -> str:
    cmd = [sys.executable, "-m", "dvc", *argv[1:]] if argv[0] == "dvc" else list(argv)
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(argv)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc.stdout


def _tables(repo: Path, niqe: float, loss: float) -> None:
    (repo / "reports" / "metrics.json").write_text(json.dumps({"set14": {"full": {"niqe": niqe}}}, indent=1) + "\n")
    (repo / "reports" / "headline.json").write_text(json.dumps({"full": {"niqe_test": niqe}}, indent=1) + "\n")
    rows = [
        "curve\tvariant\tstep\tvalue",
        f"gan/train/l_g_gan\tfull\t1\t{loss}",
        f"gan/train/l_g_gan\tno_sinc\t1\t{loss + 1}",
        f"net/train/l_g_pix\tfull\t1\t{loss}",
    ]
    (repo / "reports" / "curves.tsv").write_text("\n".join(rows) + "\n")


def test_metrics_and_plots_diff_between_commits(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    env = dict(os.environ, DVC_NO_ANALYTICS="1", DVC_STUDIO_OFFLINE="1", HOME=str(tmp_path / "home"))
    env.update(
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@x.invalid", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@x.invalid"
    )
    (tmp_path / "home").mkdir()
    repo = tmp_path / "repo"
    (repo / ".dvc" / "plots").mkdir(parents=True)
    (repo / "reports").mkdir()
    for name in ("dvc.yaml", "params.yaml", ".dvc/config", ".dvc/plots/training_curves.json"):
        shutil.copy(ROOT / name, repo / name)
    _run(repo, env, "git", "init", "-q", "-b", "main")
    _run(repo, env, "dvc", "config", "--local", "core.site_cache_dir", str(repo / ".dvc" / "site_cache"))
    for niqe, loss in ((5.0, 0.5), (4.5, 0.25)):
        _tables(repo, niqe, loss)
        _run(repo, env, "git", "add", "dvc.yaml", "params.yaml", ".dvc/config", ".dvc/plots", "reports")
        _run(repo, env, "git", "commit", "-q", "-m", f"niqe {niqe}")

    diff = json.loads(_run(repo, env, "dvc", "metrics", "diff", "HEAD~1", "--json"))
    assert list(diff) == ["reports/headline.json"]  # the declared metrics: a few columns (docs/dvc.md §9)
    assert diff["reports/headline.json"]["full.niqe_test"] == {"old": 5.0, "new": 4.5, "diff": -0.5}
    assert "full.niqe_test" in _run(repo, env, "dvc", "metrics", "diff", "HEAD~1", "--md")  # the table
    # the full table is not a declared metric, but DVC still diffs it when named
    full = json.loads(
        _run(repo, env, "dvc", "metrics", "diff", "HEAD~1", "--targets", "reports/metrics.json", "--json")
    )
    assert full["reports/metrics.json"]["set14.full.niqe"] == {"old": 5.0, "new": 4.5, "diff": -0.5}

    plots = json.loads(_run(repo, env, "dvc", "plots", "diff", "HEAD~1", "--json"))["data"]
    assert list(plots) == ["training curves"]  # one chart, not one per file
    (chart,) = plots["training curves"]
    rows = chart["content"]["data"]["values"]
    assert {r["rev"] for r in rows} == {"HEAD~1", "workspace"}
    assert {r["variant"] for r in rows} == {"full", "no_sinc"}
    assert chart["content"]["spec"]["encoding"]["color"]["field"] == "variant"  # a line per run
    assert chart["content"]["facet"]["field"] == "curve"  # a panel per phase/metric
