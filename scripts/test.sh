#!/usr/bin/env bash
# Set up, then run the offline CPU test suite (GPU and network tests are skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DVC_NO_ANALYTICS=1 DVC_STUDIO_OFFLINE=1
if [ -z "${REPLICATION_MIRROR:-}" ] && [ -d ../shared/mirror ]; then
  export REPLICATION_MIRROR="$(cd ../shared/mirror && pwd)"
fi
markers="not gpu and not network"
if ! python3 -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then :; else markers="not network"; fi
python3 -m pytest -m "$markers" "$@"
