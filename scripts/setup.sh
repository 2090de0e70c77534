#!/usr/bin/env bash
# Install the pinned dependencies (requirements.lock, sha256-checked), then the package itself without
# touching them. Idempotent and fast when everything is in place: pip runs only if an installed
# version differs from the lock, and the editable install only if this checkout is not the one installed.
# Extras dev (tests, ncnn runtime, notebooks), metrics (pyiqa: NON-COMMERCIAL licence) and spandrel (foreign
# architectures for bring-your-own-model) are in the lock.
# REPLICATION_LOCK=requirements-cpu.lock picks another lock (e.g. one made with a CPU-only torch).
set -euo pipefail
cd "$(dirname "$0")/.."
lock="${REPLICATION_LOCK:-requirements.lock}"
# Prints "pins" when a pinned version is missing, "package" when this checkout is not installed editable.
todo="$(python3 -I - "$lock" "$PWD" <<'PY'
import json, re, sys
from importlib import metadata
from pathlib import Path

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

installed = {}
for dist in metadata.distributions():  # the first on sys.path wins, as for imports
    installed.setdefault(norm(dist.metadata["Name"]), dist.version)
pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", Path(sys.argv[1]).read_text(), re.M)
if not pins or any(installed.get(norm(n)) != v for n, v in pins):
    print("pins")
try:
    url = json.loads(metadata.distribution("replication").read_text("direct_url.json") or "{}")
except metadata.PackageNotFoundError:
    url = {}
if not (url.get("dir_info", {}).get("editable") and url.get("url") == Path(sys.argv[2]).resolve().as_uri()):
    print("package")
PY
)"
if [[ "$todo" == *pins* ]]; then
  python3 -m pip install --quiet --disable-pip-version-check --require-hashes -r "$lock"
fi
if [[ "$todo" == *package* ]]; then
  python3 -m pip install --quiet --disable-pip-version-check --no-deps -e .
fi
# DVC: never phone home, keep its state inside the repository (docs/dvc.md §7).
if command -v dvc >/dev/null 2>&1 && [ -d .dvc ]; then
  dvc config --local core.site_cache_dir "$PWD/.dvc/site_cache" >/dev/null
fi
