#!/usr/bin/env bash
# One prepared check of the CUDA path on a lent GPU machine; fits in about 8 minutes on one H100/H200.
#
#   bash benchmarks/gpu_check.sh [--budget SECONDS] [--official DIR] [--dry-run] [--skip SECTION,...]
#
# --dry-run: every section on the CPU with tiny sizes (what tests/test_benchmarks.py runs).
# --official DIR: the official BasicSR/Real-ESRGAN code, installed with `pip install --target DIR`
# (docs/performance.md, "The GPU check", says how to carry it to a machine without network).
#
# Run from anywhere; it works in the repository root. Results go to $OUT (default
# benchmarks/out): gpu_check.json, gpu_check.md, gpu_check.log, pytest_gpu.log, pytest_gpu.xml,
# compile_regional.log, compile_whole.log. The summary (Markdown tables) is printed last. Sections and what they measure:
# see benchmarks/gpu_check.py's docstring and docs/performance.md.
#
# The package is imported from this checkout (PYTHONPATH = repository root), never pip-installed.
# Its run-time needs on the machine are torch, numpy, scipy, opencv, pyyaml, safetensors, pillow,
# tqdm and pytest; DVCLive is optional (training then logs nothing to DVCLive, with a warning), and
# dvc, ruamel.yaml, pyiqa and ncnn are not needed by this check.
#
# Extra pure-Python packages can travel as wheels in ./.whl (ignored by git); the script installs
# whatever it finds there into /tmp/site first. This check needs none. To prepare them anyway (in the
# repository root, on a machine with pip; NAME==VERSION per package, e.g. ruamel.yaml==0.18.10):
#
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d .whl NAME==VERSION
#
# and name .whl in the device tool's carry list. Device tool call for this check (about 8 minutes):
#   run(command="bash benchmarks/gpu_check.sh --budget 420 --official .official", carry=[".official"],
#       timeout_s=540)
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
export OUT="${OUT:-$ROOT/benchmarks/out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
# (tests/test_gpu.py sets CUBLAS_WORKSPACE_CONFIG for its deterministic runs itself; it is not set
# here, so that the timings use cuBLAS's default workspace.)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "error: installing the wheels in .whl failed" >&2; exit 1; }
  export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
{
  echo "gpu_check.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m), $(nproc) CPUs"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
  python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} 2>&1 | tee "$OUT/gpu_check.log"
set -o pipefail
# The python side keeps to its own --budget; `timeout` is the backstop (budget + 90 s).
budget=420
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [[ "${args[$i]}" == "--budget" && $((i + 1)) -lt ${#args[@]} ]] && budget="${args[$((i + 1))]}"
done
timeout --signal=TERM --kill-after=10 "$(( ${budget%.*} + 90 ))" \
  python3 benchmarks/gpu_check.py --out "$OUT" "$@" 2>&1 | tee -a "$OUT/gpu_check.log"
rc=$?
echo "gpu_check.sh: exit code $rc; results in $OUT" | tee -a "$OUT/gpu_check.log"
exit $rc
