"""Repository rules that a reviewer would otherwise have to check by eye."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 80
# Functions over the limit that another change is about to split, by name within the folder they live in;
# remove an entry when its split lands (test_the_exemptions_are_still_needed enforces it). None today.
KNOWN_LONG: set[tuple[str, str]] = set()


def _exempt(found: str) -> bool:
    path, name = found.rsplit(":", 1)
    return any(path.startswith(folder + "/") and name == fn for folder, fn in KNOWN_LONG)


def _long_functions() -> list[str]:
    found = []
    for path in sorted((ROOT / "replication").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{rel}:{node.name}")
    return found


def test_no_function_in_the_package_is_longer_than_80_lines():
    long = [f for f in _long_functions() if not _exempt(f)]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines (split them into named steps): {long}"


def test_the_exemptions_are_still_needed():
    long = _long_functions()
    stale = [(folder, fn) for folder, fn in KNOWN_LONG if not any(_exempt(f) and f.endswith(":" + fn) for f in long)]
    assert not stale, f"{sorted(stale)} are no longer over the limit: remove them from KNOWN_LONG"


def _tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    skip = {".lock", ".png", ".jpg", ".npz", ".ipynb"}
    return [ROOT / f for f in out.splitlines() if Path(f).suffix not in skip and (ROOT / f).is_file()]


def test_nothing_refers_to_documents_outside_the_repository():
    """Load-bearing explanations live in docs/ (reference-notes.md, dvc.md), not in a sibling folder."""
    patterns = ("shared/" + "spec", "dvc-" + "notes", "reference-" + "behaviour", "paper-" + "facts", "/" + "work/")
    bad = []
    for path in _tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            if any(p in line for p in patterns):
                bad.append(f"{path.relative_to(ROOT)}:{lineno}")
    assert not bad, f"references to documents outside the repository: {bad}"
