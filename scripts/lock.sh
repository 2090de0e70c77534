#!/usr/bin/env bash
# Regenerate requirements.lock: every dependency of the package (extras dev and metrics included),
# pinned with sha256 hashes, for the CI platform (CPython 3.11, Linux x86_64, manylinux_2_28).
# Needs uv (`pip install uv`) and the package index. Versions already in requirements.lock are kept
# unless asked: `bash scripts/lock.sh --upgrade` (everything) or `--upgrade-package numpy` (one).
# Another file or torch build: LOCK_FILE=requirements-cpu.lock bash scripts/lock.sh --torch-backend cpu
set -euo pipefail
cd "$(dirname "$0")/.."
out="${LOCK_FILE:-requirements.lock}"
uv pip compile pyproject.toml --extra dev --extra metrics --extra spandrel \
  --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  --custom-compile-command "bash scripts/lock.sh" -o "$out" "$@"
