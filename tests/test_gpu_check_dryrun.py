"""``benchmarks/gpu_check.sh --dry-run``: the GPU check's own code, run on the CPU with tiny sizes.

The check itself needs a GPU and runs rarely; this keeps it from rotting between runs: every section
must run (no errors) and write its figures to the JSON and Markdown reports.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_dry_run(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", "--budget", "240"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "gpu_check.json").read_text())
    assert results["mode"].startswith("DRY RUN")
    for name in ("limits", "train", "inference", "compile", "projection"):
        assert results[name]["status"] == "ok", (name, results[name])
    assert results["tests"]["status"] == "skipped: dry run"
    limits = results["limits"]["limit_tflops"]
    assert set(limits) == {"bf16", "fp32", "fp32_strict"} and all(v > 0 for v in limits.values())
    rows = results["train"]["rows"]
    assert {(r["phase"], r["precision"]) for r in rows} == {
        (phase, precision) for phase in ("net", "gan") for precision in ("fp32", "bf16", "bf16 channels-last")
    }
    for r in rows:
        assert r["step_s"] > 0 and r["synth_s"] > 0 and r["step_gflop"] > 0 and r["fraction_of_conv_limit"] > 0
    assert len(results["inference"]["rows"]) == 6 and all(r["mp_per_s"] > 0 for r in results["inference"]["rows"])
    assert results["projection"]["hours"] > 0
    report = (tmp_path / "gpu_check.md").read_text()
    assert "## Training steps" in report and "## Projection" in report
    assert "gpu_check.sh: exit code 0" in (tmp_path / "gpu_check.log").read_text()
