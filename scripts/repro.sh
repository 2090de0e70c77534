#!/usr/bin/env bash
# Set up, then run the whole replication with DVC on the profile named in params.yaml (default: smoke).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DVC_NO_ANALYTICS=1 DVC_STUDIO_OFFLINE=1
dvc repro "$@"
echo "report: $(pwd)/reports/report.html"
