"""The CLI: every command has --help; bad params give a clear error and exit code 1 (2: usage errors)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from replication.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage: replication" in capsys.readouterr().out


def test_module_entry_point_and_params_command():
    out = subprocess.run(
        [sys.executable, "-m", "replication", "params", "--params", str(ROOT / "params.yaml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    assert "active profile: smoke" in out


def test_bad_params_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "params.yaml"
    bad.write_text("profile: smoke\nmirror: ''\nvariants: {}\nprofiles: {}\n")
    assert main(["params", "--params", str(bad)]) == 1
    assert "unknown profile 'smoke'" in capsys.readouterr().err
