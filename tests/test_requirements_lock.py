"""requirements.lock covers pyproject.toml: every dependency (extras dev, metrics and spandrel included) is
pinned, with hashes, at a version its range allows. A new dependency without `bash scripts/lock.sh`
fails here instead of on a fresh machine."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\\n((?:    --hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", re.M)


def _pins() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pins = {canonicalize_name(name): version for name, version, _ in PIN.findall(text)}
    # every requirement line is a hash-pinned one (pip --require-hashes refuses anything else)
    named = re.findall(r"^[A-Za-z0-9][^\s]*", text, re.M)
    assert len(named) == len(pins), "requirements.lock has entries without == and --hash"
    return pins


def test_lock_pins_every_dependency_within_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"])
    for extra in ("dev", "metrics", "spandrel"):
        wanted += project["optional-dependencies"][extra]
    pins = _pins()
    problems = []
    for line in wanted:
        req = Requirement(line)
        version = pins.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name}: not in requirements.lock")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}: locked {version} is outside {req.specifier}")
    assert not problems, "run `bash scripts/lock.sh` (README, 'The pinned environment'): " + "; ".join(problems)
