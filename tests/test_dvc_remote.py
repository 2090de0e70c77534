"""Sharing results the DVC way (docs/pipeline.md): push from one clone to a local directory remote,
pull into a fresh clone, and the clone's pipeline is up to date without re-running anything."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("dvc")

STAGE = """\
stages:
  double:
    cmd: mkdir -p out && python3 -c "open('out/doubled.txt','w').write(open('data/raw.txt').read()*2)"
    deps:
      - data/raw.txt
    outs:
      - out
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DVC_NO_ANALYTICS="1",
        DVC_STUDIO_OFFLINE="1",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.invalid",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.invalid",
        HOME=str(tmp_path / "home"),  # no global git or DVC config of the machine
    )
    return env


def _run(cwd: Path, env: dict[str, str], *argv: str) -> str:
    cmd = [sys.executable, "-m", "dvc", *argv[1:]] if argv[0] == "dvc" else list(argv)
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(argv)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc.stdout


def _dvc_setup(repo: Path, env: dict[str, str]) -> None:
    """What scripts/setup.sh does: DVC state inside the repository, never phoning home."""
    _run(repo, env, "dvc", "config", "--local", "core.site_cache_dir", str(repo / ".dvc" / "site_cache"))


def test_push_then_pull_into_a_fresh_clone(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    env = _env(tmp_path)
    (tmp_path / "home").mkdir()
    origin, clone, remote = tmp_path / "origin", tmp_path / "clone", tmp_path / "remote"
    origin.mkdir()
    _run(origin, env, "git", "init", "-q", "-b", "main")
    _run(origin, env, "dvc", "init", "-q")
    _run(origin, env, "dvc", "config", "core.analytics", "false")
    _dvc_setup(origin, env)
    (origin / ".gitignore").write_text("/.dvc/site_cache\n")  # as in the project's .gitignore
    (origin / "data").mkdir()
    (origin / "data" / "raw.txt").write_text("some bytes\n")
    _run(origin, env, "dvc", "add", "-q", "data/raw.txt")
    (origin / "dvc.yaml").write_text(STAGE)
    _run(origin, env, "dvc", "repro", "-q")
    # The commands docs/pipeline.md gives: a default remote, then push.
    _run(origin, env, "dvc", "remote", "add", "-d", "shared", str(remote))
    _run(origin, env, "git", "add", "-A")
    _run(origin, env, "git", "commit", "-q", "-m", "pipeline")
    _run(origin, env, "dvc", "push", "-q")

    _run(tmp_path, env, "git", "clone", "-q", str(origin), str(clone))
    assert not (clone / "out").exists() and not (clone / "data" / "raw.txt").exists()  # git holds neither
    _dvc_setup(clone, env)
    _run(clone, env, "dvc", "pull", "-q")
    assert (clone / "data" / "raw.txt").read_bytes() == (origin / "data" / "raw.txt").read_bytes()
    assert (clone / "out" / "doubled.txt").read_text() == "some bytes\n" * 2
    assert json.loads(_run(clone, env, "dvc", "status", "--json") or "{}") == {}  # nothing to re-run
    assert json.loads(_run(clone, env, "dvc", "status", "--cloud", "--json") or "{}") == {}  # remote in step
    _run(clone, env, "dvc", "repro", "-q")  # a no-op: the pulled outputs match dvc.lock
    assert _run(clone, env, "git", "status", "--porcelain") == ""
