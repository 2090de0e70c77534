"""Every benchmark script in ``benchmarks/`` runs its real (not ``--dry-run``) code path at tiny sizes.

Benchmarks measure speed and are never timed here; what these tests keep is that each one still runs
against the current code and writes what its docs promise, so the next lent GPU or quiet machine is
not wasted on a script that rotted (``gpu_check`` and ``bench_train --sizes paper`` both had). The
official BasicSR/Real-ESRGAN comparison runs when ``$REPLICATION_OFFICIAL`` names an installed copy
(benchmarks/official.py); otherwise each script must say "not measured" and print no ratio.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import require_mirror

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
OFFICIAL = os.environ.get("REPLICATION_OFFICIAL", "")
HAS_OFFICIAL = bool(OFFICIAL) and Path(OFFICIAL).is_dir()

# Each script of benchmarks/ and the test below that runs it (modules imported by them included).
COVERED = {
    "bench_baselines.py": "test_bench_baselines_tiny",
    "bench_data.py": "test_bench_data_tiny",
    "bench_degradation.py": "test_bench_degradation_tiny",
    "bench_inference.py": "test_bench_inference_tiny",
    "bench_niqe.py": "test_bench_niqe_tiny",
    "bench_pipeline.py": "test_bench_pipeline_runs_a_target",
    "bench_reader.py": "test_bench_reader_runs_at_tiny_size",
    "bench_train.py": "test_bench_train_tiny",
    "gpu_check.py": "test_gpu_check_tiny_on_the_cpu",
    "gpu_check.sh": "test_gpu_check_tiny_on_the_cpu",
    "official.py": "test_official_loader",
    "trainbench.py": "test_bench_train_tiny",
    "yardstick.py": "test_yardstick_tiny",
}


def run(args: list[str], tmp_path: Path, timeout: float = 300, env: dict | None = None) -> str:
    mirror = require_mirror("datasets/sample-hr-cc0")
    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "REPLICATION_MIRROR": str(mirror),
        "DVC_NO_ANALYTICS": "1",
        "DVC_STUDIO_OFFLINE": "1",
        **(env or {}),
    }
    cmd = args if args[0] == "bash" else [sys.executable, *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "Traceback" not in out, out[-4000:]
    return out


def official_args() -> list[str]:
    return ["--official", OFFICIAL] if HAS_OFFICIAL else []


def test_every_benchmark_script_has_a_tiny_run():
    scripts = {p.name for p in BENCH.iterdir() if p.suffix in (".py", ".sh")}
    assert scripts == set(COVERED), f"benchmarks without a tiny-run test: {sorted(scripts - set(COVERED))}"
    names = {name for name in globals() if name.startswith("test_")}
    assert set(COVERED.values()) <= names


def test_yardstick_tiny(tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        import yardstick
    finally:
        sys.path.remove(str(BENCH))
    # RRDBNet's convolutions: a dense block (growth 32 on 64 features; 3 per RRDB x 23) and 64 -> 64
    # (trunk, two up-sampling convolutions and the HR one, in units of the LR map's area).
    assert yardstick.rrdb_layers() == (
        (64, 32, 69), (96, 32, 69), (128, 32, 69), (160, 32, 69), (192, 64, 69), (64, 64, 37)
    )  # fmt: skip
    out = run([str(BENCH / "yardstick.py"), "--tiny", "--seconds", "0.05", "--threads", "1"], tmp_path)
    assert "at RRDBNet's layer shapes (batch 2, 8x8 maps, 8 features, 4 growth)" in out
    fractions = re.findall(r"(fp32|bf16): RRDBNet's layer shapes reach ([\d.]+)% ", out)
    assert {d for d, _ in fractions} == {"fp32", "bf16"} and all(float(f) > 0 for _, f in fractions)


@pytest.mark.slow
def test_bench_train_tiny(tmp_path):
    out = run(
        [
            str(BENCH / "bench_train.py"),
            "--tiny",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--force-bf16",
            *official_args(),
        ],
        tmp_path,
        timeout=600,
    )
    rows = re.findall(r"^\| (smoke|paper) \| (net|gan) \| ([^|]+) \| ([\d.]+) \|.*\| ([^|]+) \| ([^|]+) \|$", out, re.M)
    assert {(s, p, label.strip()) for s, p, label, *_ in rows} == {
        (s, p, label)
        for s in ("smoke", "paper")
        for p in ("net", "gan")
        for label in ("fp32", "fp32 channels-last", "bf16 autocast")
    }
    assert all(float(sec) > 0 for _, _, _, sec, _, _ in rows)
    paper = [r for r in rows if r[0] == "paper"]
    if HAS_OFFICIAL:
        assert all(r[5].strip().endswith("x") for r in paper), paper
    else:
        assert all(r[4].strip() == "not measured" for r in paper) and "official code: not measured" in out
    assert "at RRDBNet's layer shapes" in out
    assert re.search(r"\| paper \| net \| fp32 \|.*\| [\d.]+% \|", out), "no fraction of the RRDB-shape limit"
    assert "loss curve, Real-ESRGAN smoke size, 2 steps" in out


@pytest.mark.slow
def test_gpu_check_tiny_on_the_cpu(tmp_path):
    """``gpu_check.sh --dry-run``: every section, with the paper profile's network shrunk, on the CPU;
    torch.compile through TorchDynamo/AOTAutograd (backend aot_eager: no code generation)."""
    out_dir = tmp_path / "out"
    run(
        ["bash", str(BENCH / "gpu_check.sh"), "--dry-run", "--budget", "400", *official_args()],
        tmp_path,
        timeout=600,
        env={"OUT": str(out_dir)},
    )
    results = json.loads((out_dir / "gpu_check.json").read_text())
    assert results["mode"].startswith("TINY on cpu")
    for name in ("limits", "tests", "train", "inference", "compile", "projection"):
        assert results[name]["status"] == "ok", (name, results[name])
    limits = results["limits"]
    assert set(limits["limit_tflops"]) == {"bf16", "fp32", "fp32_strict"}
    assert all(v > 0 for v in limits["limit_tflops"].values())
    assert set(limits["rrdb_limit_tflops"]) == {"bf16", "fp32"} and all(
        v > 0 for v in limits["rrdb_limit_tflops"].values()
    )
    rows = results["train"]["rows"]
    assert {(r["phase"], r["precision"]) for r in rows} == {
        (phase, precision) for phase in ("net", "gan") for precision in ("fp32", "bf16", "bf16 channels-last")
    }
    for r in rows:
        assert r["step_s"] > 0 and r["synth_s"] > 0 and r["step_gflop"] > 0 and r["fraction_of_conv_limit"] > 0
        assert ("fraction_of_rrdb_limit" in r) == (r["phase"] == "net")
    assert "paper profile" in results["train"]["params"]
    compiled = results["compile"]["runs"]
    assert [r["mode"] for r in compiled] == ["regional", "whole"]
    assert all(r["status"] == "ok" and r["backend"] == "aot_eager" for r in compiled)
    assert len(results["inference"]["rows"]) == 6 and all(r["mp_per_s"] > 0 for r in results["inference"]["rows"])
    proj = results["projection"]
    assert proj["hours"] > 0 and set(proj["hours_by_gpus"]) == {"1", "4", "8"}
    assert proj["hours_by_gpus"]["1"] == pytest.approx(4 * proj["hours_by_gpus"]["4"], rel=0.05)
    official = results["official"]
    if HAS_OFFICIAL:
        assert official["status"] == "ok"
        assert [r["phase"] for r in official["rows"]] == ["net", "gan"]
        assert all(r["official_fp32_step_s"] > 0 and r["speedup_fp32"] > 0 for r in official["rows"])
    else:
        assert official["status"].startswith("not measured")
    report = (out_dir / "gpu_check.md").read_text()
    for heading in ("## Training steps", "## Official BasicSR/Real-ESRGAN step", "## Projection"):
        assert heading in report
    assert "gpu_check.sh: exit code 0" in (out_dir / "gpu_check.log").read_text()


def test_gpu_check_refuses_full_sizes_on_the_cpu(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(BENCH / "gpu_check.py"), "--device", "cpu", "--out", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "--device cpu runs only with --tiny" in proc.stderr


@pytest.mark.slow
def test_bench_inference_tiny(tmp_path):
    out_json = tmp_path / "inference.json"
    out = run(
        [str(BENCH / "bench_inference.py"), "--tiny", "--threads", "1", "--json", str(out_json), *official_args()],
        tmp_path,
    )
    result = json.loads(out_json.read_text())
    names = [r["variant"] for r in result["rows"]]
    assert "fp32 tiled 16 pad 4" in names and len(names) == (10 if HAS_OFFICIAL else 8)
    assert all(r["seconds"] > 0 and r["gflops"] > 0 for r in result["rows"])
    assert ("side by side, same run" in out) == HAS_OFFICIAL


def test_bench_degradation_tiny(tmp_path):
    args = [str(BENCH / "bench_degradation.py"), "--tiny", "--threads", "1"]
    if HAS_OFFICIAL:
        args += [*official_args(), "--compare"]
    out = run(args, tmp_path)
    row = re.search(r"^tiny\s+2\s+64\s+([\d.]+)\s+([\d.]+)\s+(.*)$", out, re.M)
    assert row and float(row.group(1)) > 0, out[-2000:]
    if HAS_OFFICIAL:
        assert "# LQ statistics over 4 pairs" in out and re.search(r"\d+\.\dx", row.group(3))
    else:
        assert "not measured" in row.group(3)


def test_bench_data_tiny(tmp_path):
    out = run([str(BENCH / "bench_data.py"), "--tiny"], tmp_path)
    assert re.search(r"prepare 2 images -> \d+ sub-images, 1 process", out)
    assert "from index.tsv" in out and "as loose PNG files" in out


def test_bench_niqe_tiny(tmp_path):
    require_mirror("metrics/niqe_pris_params.npz", "metrics/niqe_modelparameters.mat")
    args = [str(BENCH / "bench_niqe.py"), "--tiny"]
    if HAS_OFFICIAL:
        args += ["--basicsr-path", OFFICIAL]
    out = run(args, tmp_path)
    values = dict(re.findall(r"^\s+192x192\s+(ours f32|ours f64|pyiqa|basicsr)\s+([\d.]+)", out, re.M))
    assert {"ours f32", "ours f64"} <= set(values)
    # Equal results are what makes the speed comparison fair (tolerance: pyiqa's float32 path).
    assert all(abs(float(v) - float(values["ours f64"])) < 0.01 for v in values.values()), values


def test_bench_baselines_tiny(tmp_path):
    mirror = require_mirror("weights/dan/pca_matrix.pth")
    out_json = tmp_path / "baselines.json"
    tiny = [
        "--sizes",
        "16",
        "--agree-size",
        "16",
        "--agree",
        "--tiled-width",
        "48",
        "--tiled-height",
        "32",
        "--tile",
        "32",
    ]
    pca = str(mirror / "weights/dan/pca_matrix.pth")
    run([str(BENCH / "bench_baselines.py"), "--pca", pca, *tiny, "--json", str(out_json)], tmp_path)
    report = json.loads(out_json.read_text())
    assert report["dan_16px_s"] > 0 and report["cdc_16px_s"] > 0
    assert report["dan_cpu_vs_cpu_maxabs"] == 0 and report["cdc_cpu_vs_cpu_maxabs"] == 0
    # a tile pad of at least the receptive radius reproduces the whole-image output
    pads = [k for k in report if k.startswith("cdc_tile32_pad")]
    assert pads and report[pads[0]] == 0


@pytest.mark.slow
def test_bench_pipeline_runs_a_target(tmp_path):
    pytest.importorskip("dvc")
    out = run(
        [str(BENCH / "bench_pipeline.py"), "--target", "download_heldout", "--workdir", str(tmp_path)],
        tmp_path,
        timeout=600,
    )
    assert re.search(r"dvc repro \(download_heldout\) \(first, from scratch\)\s+[\d.]+\s+1 stages run", out), out
    assert re.search(r"dvc repro \(download_heldout\) \(second\)\s+[\d.]+\s+no-op", out), out
    assert not any(p.name.startswith("bench-pipeline-") for p in tmp_path.iterdir())  # the copy is removed


def test_official_loader(tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        import official
    finally:
        sys.path.remove(str(BENCH))
    off, why = official.load(tmp_path / "absent")
    assert off is None and why == f"official code folder {tmp_path / 'absent'} not found"
    if HAS_OFFICIAL:  # in a child process: importing basicsr installs its shims process-wide
        code = "import official; off, why = official.load(); print(why or off.version)"
        out = run(["-c", code], tmp_path, env={"PYTHONPATH": f"{ROOT}:{BENCH}"})
        assert out.strip().splitlines()[-1].startswith("basicsr ")


def test_bench_reader_runs_at_tiny_size():
    """benchmarks/bench_reader.py's measuring path (not a timing assertion)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_reader.py"), "--quick", "--steps", "2", "--workers", "0,1"]
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split() for line in proc.stdout.splitlines() if line.split()[:1] in (["0"], ["1"])]
    assert [r[0] for r in rows] == ["0", "1"] and all(r[3].endswith("%") for r in rows)
    assert "load average at start" in proc.stdout and "load average at end" in proc.stdout
