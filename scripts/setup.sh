#!/usr/bin/env bash
# Install the package and its dependencies into the current Python (idempotent, fast when satisfied).
# Extras: dev (tests, ncnn runtime, notebooks) and metrics (pyiqa: NON-COMMERCIAL licence).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${REPLICATION_EXTRAS:-dev,metrics}"
python3 -m pip install --quiet --disable-pip-version-check -e ".[${extras}]"
# DVC: never phone home, keep its state inside the repository (docs/dvc.md §7).
if command -v dvc >/dev/null 2>&1 && [ -d .dvc ]; then
  dvc config --local core.site_cache_dir "$PWD/.dvc/site_cache" >/dev/null
fi
