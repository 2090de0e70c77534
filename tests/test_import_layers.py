"""The dependency rule of docs/ARCHITECTURE.md §2, checked on the source: every import of a ``replication``
module (top-level or inside a function, read with ``ast``) points down a layer, and no modules import
each other in a circle.

Layers, bottom to top (a module may import from lower layers, and from its own package at its layer):

0. core: ``errors``, ``names``, ``strict``, ``paramfile``, ``fsutil``, ``imageio``, ``fetcher``,
   ``outputs``, ``device``, ``argtypes``, ``batch`` (these may also import each other);
1. ``artifacts/``: the formats and names stages pass to each other;
2. each part's ``config.py`` (the typed sections of params.yaml; they may import each other);
3. ``params.py``: the whole file (every profile, every section);
4. ``data/``, ``degrade/``, ``archs/``, ``stats/``: peers that do not import each other;
5. ``train/`` and ``evaluate/``: peers (training never imports evaluation, nor the other way);
6. ``report/``: it reads what training and evaluation wrote (through ``artifacts/``) and may use
   evaluation's statistics and metric registry, but never imports ``train/``;
7. what commands share: ``params_check.py`` (the registry names of params.yaml), ``evaluate/cli_args.py``;
8. commands: the modules of ``cli.COMMANDS``, the ``python -m`` entry points and the Python API
   (``api.py``). A command never imports another command;
9. the dispatcher: ``cli.py`` (it loads a command by name, not by an import) and ``__main__.py``.

Package ``__init__.py`` files hold no code (tests/test_dvc_deps.py checks it) and are left out.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_dvc_deps import ROOT, _imports

from replication.cli import COMMANDS

PACKAGE = ROOT / "replication"
CORE = {
    "errors",
    "names",
    "strict",
    "paramfile",
    "fsutil",
    "imageio",
    "fetcher",
    "outputs",
    "device",
    "argtypes",
    "batch",
}
PART_LAYER = {"data": 4, "degrade": 4, "archs": 4, "stats": 4, "train": 5, "evaluate": 5, "report": 6}
SHARED_BY_COMMANDS = {"replication.params_check", "replication.evaluate.cli_args"}
ENTRY_POINTS = {
    "replication.dvc_args",
    "replication.evaluate.results",
    "replication.train.launch",
}
API = {"replication.api"}  # the Python API: a command for Python callers (re-exported lazily by __init__)
COMMAND_MODULES = {module for module, _ in COMMANDS.values()} | ENTRY_POINTS | API
DISPATCH = {"replication.cli", "replication.__main__"}
# core modules, configs (train's reads degrade's gt_size rule) and the dispatcher import across packages
SAME_LAYER_ACROSS_PACKAGES = {0, 2, 9}
FORBIDDEN = {("report", "train")}  # (importer's part, imported part) although the layers allow it
NAMES = {0: "core", 1: "artifacts", 2: "config", 3: "params", 4: "part", 5: "part", 6: "report", 7: "shared"}
NAMES.update({8: "command", 9: "dispatcher"})


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()  # every module, packages included (to resolve `from pkg import module`)
CODE = {m for m, p in MODULES.items() if p.name != "__init__.py"}


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    if module in DISPATCH:
        return 9
    if module in COMMAND_MODULES:
        return 8
    if module in SHARED_BY_COMMANDS:
        return 7
    if module == "replication.params":
        return 3
    if module.endswith(".config") and top in PART_LAYER:
        return 2
    if top == "artifacts":
        return 1
    if top in CORE:
        return 0
    if top in PART_LAYER:
        return PART_LAYER[top]
    raise AssertionError(f"{module}: in no layer of docs/ARCHITECTURE.md §2 (add it to the rule and to this test)")


def graph() -> dict[str, set[str]]:
    """module -> the replication modules it imports (``from pkg import module`` resolved to the module)."""
    edges: dict[str, set[str]] = {}
    for module in sorted(CODE):
        path = MODULES[module]
        targets = set()
        for name in _imports(path):
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name in CODE and name != module:
                targets.add(name)
        edges[module] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _part(module: str) -> str:
    return module.split(".")[1] if module.count(".") > 1 else ""


def _package(module: str) -> str:
    return module.rpartition(".")[0]


def violations(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            a, b = layer(source), layer(target)
            if b < a and (_part(source), _part(target)) not in FORBIDDEN:
                continue
            same_package = _package(source) == _package(target) and source.count(".") > 1
            if a == b and a != 8 and (same_package or a in SAME_LAYER_ACROSS_PACKAGES):
                continue
            bad.append(f"{source} ({NAMES[a]}) imports {target} ({NAMES[b]})")
    return bad


def test_every_module_has_a_layer():
    for module in CODE:
        layer(module)


def test_no_import_points_up_a_layer():
    bad = violations(graph())
    assert not bad, "imports against the dependency rule (docs/ARCHITECTURE.md §2):\n" + "\n".join(bad)


def test_no_import_circle():
    found = cycles(graph())
    assert not found, f"modules that import each other in a circle: {found}"


def test_python_m_entry_points_are_commands():
    """A module run as ``python -m`` is a command: it sits on the top floor."""
    for module in CODE:
        path = MODULES[module]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        runs_as_main = any(isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) for node in tree.body)
        if runs_as_main:
            assert module in COMMAND_MODULES | DISPATCH, (
                f"{module} runs as `python -m` but is not listed as a command here"
            )


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        (
            {"replication.a": {"replication.b"}, "replication.b": {"replication.a"}},
            [["replication.a", "replication.b"]],
        ),
        ({"replication.a": {"replication.b"}, "replication.b": set()}, []),
    ],
)
def test_the_circle_finder_finds_circles(edges, expected):
    assert cycles(edges) == expected


def test_the_rule_catches_an_upward_import():
    """The checker is not vacuous: training importing evaluation, a part importing a command, a command
    importing another command, a config importing a registry, the report importing training and one
    part importing a peer are all reported."""
    edges = {
        "replication.train.loop": {"replication.evaluate.registry"},
        "replication.data.prepare": {"replication.data.prepare_cli"},
        "replication.evaluate.suite_cli": {"replication.evaluate.evaluate_cli"},
        "replication.evaluate.config": {"replication.evaluate.registry"},
        "replication.report.stage": {"replication.train.loop"},
        "replication.archs.fetch": {"replication.data.download"},
    }
    assert len(violations(edges)) == 6
