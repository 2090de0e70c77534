"""Time the whole DVC pipeline from a clean copy of the working tree, then check its incrementality.

Steps (each timed, printed as a table):
  1. copy the tracked and untracked-but-not-ignored files into a fresh directory, `git init`, commit;
  2. `dvc repro` (the active profile of params.yaml; smoke by default) — the ≤ 20 min target;
  3. `dvc repro` again — must run no stage;
  4. change one variant's param (`variants.<v>.description`) and list what `dvc status` and
     `dvc repro --dry` would re-run — must be that variant's stages (and the report) only;
  5. with `--check-metrics FILE`, run `replication check-metrics` on the run's results.

`--quick` runs nothing: it only resolves the DAG and lists what `dvc repro --dry` would run (seconds).
`--target STAGE` (repeatable) limits steps 2-4 to those stages and what they depend on: with a cheap
stage (e.g. `download_heldout`) the real-run path takes seconds, which is how the CPU test runs it. The copy lives next to the checkout's parent by default (so the relative `mirror:` path
keeps working), or wherever `--workdir` says; `--keep` leaves it in place.

    python benchmarks/bench_pipeline.py [--quick] [--target STAGE ...] [--variant no_sinc]
        [--check-metrics tests/expected/smoke_metrics.json]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sh(cmd: list[str], cwd: Path, env: dict, check: bool = True) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if check and proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return elapsed, proc.stdout + proc.stderr


def clean_copy(dest: Path) -> None:
    """The files git would see (tracked + untracked, not ignored), without .git, committed afresh."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def stage_names(text: str) -> list[str]:
    return sorted(set(re.findall(r"(?:Running stage|Would run stage|Would run) '([^']+)'", text)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="no real run: DAG, status and dry-run checks only")
    ap.add_argument("--variant", default="no_sinc", help="variant whose param is changed in step 4")
    ap.add_argument("--workdir", type=Path, default=None, help="where to put the copy (default: beside the checkout)")
    ap.add_argument("--keep", action="store_true", help="keep the copy")
    ap.add_argument("--check-metrics", type=Path, default=None, help="expected-metrics file to check the run against")
    ap.add_argument(
        "--target", action="append", default=[], help="run only this stage and its dependencies (repeatable)"
    )
    args = ap.parse_args()
    targets = args.target
    scope = f" ({', '.join(targets)})" if targets else ""

    base = args.workdir or ROOT.parent
    work = Path(tempfile.mkdtemp(prefix="bench-pipeline-", dir=base))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "DVC_STUDIO_OFFLINE": "1", "PYTHONPATH": str(work)}
    rows = []
    try:
        clean_copy(work)
        sh(["git", "init", "-q", "-b", "main"], work, env)
        sh(["git", "-c", "user.email=bench@local", "-c", "user.name=bench", "add", "-A"], work, env)
        sh(["git", "-c", "user.email=bench@local", "-c", "user.name=bench", "commit", "-qm", "bench"], work, env)
        sh(["dvc", "config", "--local", "core.site_cache_dir", str(work / ".dvc" / "site_cache")], work, env)
        t, out = sh(["dvc", "dag", "--md"], work, env)
        rows.append(("dvc dag", t, f"{out.count('node') // 2} nodes (approx.)"))
        if not args.quick:
            t, out = sh(["dvc", "repro", *targets], work, env)
            rows.append((f"dvc repro{scope} (first, from scratch)", t, f"{len(stage_names(out))} stages run"))
            t, out = sh(["dvc", "repro", *targets], work, env)
            ran = stage_names(out)
            rows.append((f"dvc repro{scope} (second)", t, "no-op" if not ran else f"RE-RAN: {', '.join(ran)}"))
        if args.quick:
            t, out = sh(["dvc", "repro", "--dry", *targets], work, env)
            rows.append(("dvc repro --dry (nothing run yet)", t, f"{len(stage_names(out))} stages would run"))
        else:
            params = work / "params.yaml"
            text = params.read_text()
            pattern = re.compile(rf"(\n  {re.escape(args.variant)}:\n    description: )(.*)\n")
            if not pattern.search(text):
                raise SystemExit(f"variant {args.variant!r} not found in params.yaml")
            params.write_text(pattern.sub(lambda m: m.group(1) + "'changed by bench_pipeline'\n", text, count=1))
            t, out = sh(["dvc", "status", *targets], work, env, check=False)
            changed = sorted(set(re.findall(r"^(\S+):\n\s+changed deps", out, flags=re.MULTILINE)))
            rows.append((f"dvc status after changing variants.{args.variant}", t, ", ".join(changed) or "(nothing)"))
            t, out = sh(["dvc", "repro", "--dry", *targets], work, env, check=False)
            ran = stage_names(out)
            others = [s for s in ran if args.variant not in s and s != "report"]
            rows.append(
                (
                    "dvc repro --dry after the change",
                    t,
                    f"{len(ran)} stages; others than {args.variant}/report: {others or 'none'}",
                )
            )
        if args.check_metrics and not args.quick:
            t, out = sh(
                ["replication", "check-metrics", "--expected", str(ROOT / args.check_metrics), "--results", "results"],
                work,
                env,
                check=False,
            )
            rows.append(("replication check-metrics", t, out.strip().splitlines()[-1]))
    finally:
        if args.keep:
            print(f"copy kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(
        f"\nPipeline benchmark ({'quick' if args.quick else 'full'}), {os.cpu_count()} CPUs; "
        "other processes on the machine slow these numbers down"
    )
    print(f"{'step':50s} {'seconds':>9s}  result")
    for name, t, result in rows:
        print(f"{name:50s} {t:9.1f}  {result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
