"""``dvc.yaml`` code deps follow the imports: every stage depends on every file of ``replication/`` that the
commands it runs can import (and the package data files they read), so a code change reruns exactly the
stages it can affect.

Everything is derived from ``dvc.yaml`` and ``replication/cli.py``: a stage's commands are found in its
``cmd`` (``replication <command>`` through ``COMMANDS``, ``python -m replication.<module>``), their import
closure is computed from the source with ``ast`` (function-level imports included), and each file must
lie under one of the stage's deps (a dep folder covers its files). Not counted, on purpose: the command
dispatcher (``cli.py``, ``__main__.py``), which holds no stage logic and would otherwise rerun the whole
pipeline whenever a command is added, and package ``__init__.py`` files, which this test checks are
import-free. See docs/dvc.md.

The code deps are exact both ways (every file a stage can load is covered, and a dep covers nothing
else: a folder is listed only when every file in it is loaded), and they are generated, not written by
hand: ``python tests/test_dvc_deps.py --write`` rewrites each stage's deps in ``dvc.yaml`` (its data
deps kept, in order, then its code deps sorted) and joins stages with the same list by one YAML anchor,
defined at its first use. DVC takes a flat list of strings (no nested lists, no interpolated variables
in ``vars``), so the unit an anchor can share is a stage's whole deps list.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from replication.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "replication"
DISPATCH = {"replication/cli.py", "replication/__main__.py"}
COMMAND_RE = re.compile(r"(?<![\w./-])replication\s+([a-z][a-z-]*)")
MODULE_RE = re.compile(r"python3?\s+-m\s+(replication(?:\.\w+)*)")


def _module_file(name: str) -> Path | None:
    rel = Path(*name.split("."))
    for candidate in (ROOT / rel.with_suffix(".py"), ROOT / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """Absolute names of the replication modules ``path`` imports (anywhere in the file)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import submodule`
    return {n for n in names if n == "replication" or n.startswith("replication.")}


def _data_files(path: Path) -> set[Path]:
    """Package data files beside ``path`` that its source names in a string literal (e.g. small_sets.json)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        value = node.value if isinstance(node, ast.Constant) else None
        if isinstance(value, str) and re.fullmatch(r"[\w.-]+\.\w+", value) and not value.endswith(".py"):
            candidate = path.parent / value
            if candidate.is_file():
                found.add(candidate)
    return found


def closure(module: str) -> set[str]:
    """Repository-relative files (modules and package data) that running ``module`` can load."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        path = _module_file(todo.pop())
        if path is None or path in seen:
            continue
        seen.add(path)
        todo.extend(_imports(path))
    files = set(seen)
    for path in seen:
        files |= _data_files(path)
    rel = {p.relative_to(ROOT).as_posix() for p in files}
    return {r for r in rel if r not in DISPATCH and not r.endswith("/__init__.py")}


def stage_modules(cmd: str) -> set[str]:
    modules = set(MODULE_RE.findall(cmd))
    for command in COMMAND_RE.findall(cmd):
        assert command in COMMANDS, f"dvc.yaml runs `replication {command}`, which replication/cli.py does not define"
        modules.add(COMMANDS[command][0])
    return modules


def _stages() -> dict[str, tuple[str, list[str]]]:
    data = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    out = {}
    for name, stage in data["stages"].items():
        body = stage.get("do", stage)
        deps = [d if isinstance(d, str) else next(iter(d)) for d in body.get("deps", [])]
        out[name] = (body["cmd"] if isinstance(body["cmd"], str) else " ".join(body["cmd"]), deps)
    return out


def _covered(file: str, deps: list[str]) -> bool:
    return any(file == d.rstrip("/") or file.startswith(d.rstrip("/") + "/") for d in deps)


# The one exception: the top-level package re-exports the Python API (replication/api.py) through a
# module ``__getattr__``, which runs only when a user asks for an API name, never on import.
LAZY_API_HOOKS = {"__getattr__", "__dir__"}


def test_package_init_files_import_nothing():
    """The closure leaves ``__init__.py`` out; that is only sound while they hold no code that runs."""
    for init in PACKAGE.rglob("__init__.py"):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        for node in tree.body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            assignment = isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant | ast.List)
            lazy_hook = (
                init == PACKAGE / "__init__.py" and isinstance(node, ast.FunctionDef) and node.name in LAZY_API_HOOKS
            )
            future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
            assert docstring or assignment or lazy_hook or future, (
                f"{init.relative_to(ROOT)} line {node.lineno}: package __init__ files must not import or run code"
            )


def test_package_code_does_not_use_the_lazy_api_names():
    """``from replication import load_model`` would reach replication/api.py through ``__init__.py``, which
    the closure does not follow: package code imports the defining module instead."""
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "replication" and not node.level:
                names = [a.name for a in node.names]
                assert all(n == "__version__" for n in names), (
                    f"{path.relative_to(ROOT)} line {node.lineno}: imports {names} from the package top level"
                )


def test_closure_follows_function_level_imports_and_package_data():
    files = closure("replication.data.download_cli")
    assert "replication/data/registry.py" in files and "replication/data/small_sets.json" in files
    assert "replication/errors.py" in files and "replication/cli.py" not in files


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_stage_deps_cover_the_code_it_runs(stage):
    cmd, deps = _stages()[stage]
    modules = stage_modules(cmd)
    if not modules:
        pytest.skip(f"stage {stage} runs no replication code")
    needed = set().union(*(closure(m) for m in modules))
    missing = sorted(f for f in needed if not _covered(f, deps))
    assert not missing, f"dvc.yaml stage {stage!r} runs {sorted(modules)} but does not depend on {missing}"


def _folder_files(folder: str) -> set[str]:
    """The files a folder dep covers (code and package data; ``__init__.py`` and caches left out)."""
    root = ROOT / folder
    files = {p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    return {p.relative_to(ROOT).as_posix() for p in files if p.name != "__init__.py"}


def needed_files(cmd: str) -> set[str]:
    modules = stage_modules(cmd)
    return set().union(*(closure(m) for m in modules)) if modules else set()


def exact_code_deps(needed: set[str]) -> list[str]:
    """The shortest exact dep list for ``needed``: a folder wherever every file in it is needed."""
    deps = set(needed)
    for folder in sorted({str(Path(f).parent) for f in needed}, key=lambda s: (-s.count("/"), s)):
        files = _folder_files(folder)
        if folder != "replication" and files and files <= needed:
            deps = {d for d in deps if not d.startswith(folder + "/")} | {folder}
    return sorted(deps)


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_stage_code_deps_are_not_stale(stage):
    """Each code dep holds only what the stage runs: a stale dep (or a folder with files the stage
    never loads) reruns the stage for nothing."""
    cmd, deps = _stages()[stage]
    needed = needed_files(cmd)
    stale = [d for d in deps if d.startswith("replication/") and not any(_covered(f, [d]) for f in needed)]
    assert not stale, f"dvc.yaml stage {stage!r}: code deps {stale} hold nothing its commands import"
    for dep in deps:
        if dep.startswith("replication/") and (ROOT / dep).is_dir():
            extra = sorted(_folder_files(dep) - needed)
            assert not extra, f"dvc.yaml stage {stage!r}: dep {dep} covers {extra}, which it never loads"


def render_dvc_yaml(text: str) -> str:
    """``dvc.yaml`` with every stage's deps regenerated (data deps kept, code deps exact, anchors)."""
    stages = _stages()
    wanted = {
        name: [d for d in deps if not d.startswith("replication/")] + exact_code_deps(needed_files(cmd))
        for name, (cmd, deps) in stages.items()
    }
    uses = Counter(tuple(d) for d in wanted.values())
    anchors: dict[tuple[str, ...], str] = {}
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    stage = None
    i = 0
    while i < len(lines):
        line = lines[i]
        head = re.match(r"^  ([\w-]+):\s*(#.*)?$", line)
        if head:
            stage = head.group(1)
        m = re.match(r"^(\s+)deps:", line)
        if m and stage in wanted:
            indent = m.group(1)
            i += 1
            while i < len(lines) and lines[i].startswith(indent + "  - "):
                i += 1
            deps = tuple(wanted[stage])
            if deps in anchors:
                out.append(f"{indent}deps: *{anchors[deps]}\n")
                continue
            anchor = ""
            if uses[deps] > 1:
                anchors[deps] = f"{stage}_deps"
                anchor = f" &{stage}_deps"
            out.append(f"{indent}deps:{anchor}\n")
            out.extend(f"{indent}  - {d}\n" for d in deps)
            continue
        out.append(line)
        i += 1
    return "".join(out)


def test_dvc_yaml_deps_are_the_generated_ones():
    text = (ROOT / "dvc.yaml").read_text(encoding="utf-8")
    assert render_dvc_yaml(text) == text, (
        "dvc.yaml deps are not the generated ones: run python tests/test_dvc_deps.py --write"
    )


def test_code_deps_exist():
    for stage, (_, deps) in _stages().items():
        for dep in deps:
            if dep.startswith("replication/"):
                assert (ROOT / dep).exists(), f"dvc.yaml stage {stage!r}: dep {dep} does not exist"


if __name__ == "__main__":  # `python tests/test_dvc_deps.py [--write]`: what each stage lacks, or rewrite dvc.yaml
    if "--write" in sys.argv[1:]:
        path = ROOT / "dvc.yaml"
        path.write_text(render_dvc_yaml(path.read_text(encoding="utf-8")), encoding="utf-8")
    for name, (cmd, deps) in _stages().items():
        missing = sorted(f for f in needed_files(cmd) if not _covered(f, deps))
        if missing:
            print(f"{name}:\n" + "\n".join(f"  - {m}" for m in missing))
