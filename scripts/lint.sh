#!/usr/bin/env bash
# Lint, format check and type check (configured in pyproject.toml). Fast: CI runs it before the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check .
ruff format --check .
python3 -m mypy
