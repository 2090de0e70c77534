"""CI, after `dvc repro`: did the run reproduce the committed dvc.lock and reports/ byte for byte?

Exit 0 when the lock and the committed report tables are unchanged. Stages whose outputs depend on
the CPU's floating-point kernels (docs/pipeline.md, "Reproducibility") may differ in their outputs
only, and only without ``--exact``: then every other stage must still match exactly, their commands,
params and non-float inputs too, and ``reports/metrics.json`` must agree with the committed one
within the metric gate's tolerance. Exit 1 otherwise, naming each stage and field that moved.

Usage: python3 .ci/check_repro.py [--base HEAD] [--exact] [--abs 1e-3] [--rel 1e-3]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import yaml

# Stage groups (the part of a stage name before "@") whose outputs are computed by float kernels
# that the CPU's instruction set selects (oneDNN convolutions): training, and every evaluation that
# runs a network; the report reads them. Bicubic evaluation, data preparation and synthesis are not.
FLOAT_DEPENDENT = {"train_net", "train_gan", "eval_official", "eval_gan", "eval_net", "report"}
TABLES = (
    "reports/metrics.json",  # first: the table the tolerance check reads
    "reports/summary.csv",
    "reports/curves.tsv",
    "reports/claims.csv",
    "reports/headline.json",
)


def float_dependent(stage: str) -> bool:
    return stage.split("@")[0] in FLOAT_DEPENDENT


def git_show(ref: str, path: str) -> str | None:
    proc = subprocess.run(["git", "show", f"{ref}:{path}"], capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def stages(text: str | None) -> dict:
    return (yaml.safe_load(text) or {}).get("stages", {}) if text else {}


def by_path(entries: list[dict] | None) -> dict[str, dict]:
    return {e["path"]: e for e in entries or []}


def overlaps(path: str, roots: set[str]) -> bool:
    """``path`` is one of ``roots``, inside one, or holds one (``results`` holds ``results/x``)."""
    p = path.rstrip("/")
    return any(p == r or p.startswith(r + "/") or r.startswith(p + "/") for r in (x.rstrip("/") for x in roots))


def changes(a: dict, b: dict, skip_deps: set[str], skip_outs: bool) -> list[str]:
    """What differs between two lock entries of one stage, except the allowed parts."""
    found = [f"{key} changed" for key in ("cmd", "params") if a.get(key) != b.get(key)]
    for key in ("deps", "outs"):
        old, new = by_path(a.get(key)), by_path(b.get(key))
        for path in sorted(set(old) | set(new)):
            if old.get(path) == new.get(path):
                continue
            if (key == "deps" and overlaps(path, skip_deps)) or (key == "outs" and skip_outs):
                continue
            was, now = old.get(path, {}).get("md5", "absent"), new.get(path, {}).get("md5", "absent")
            found.append(f"{key[:-1]} {path}: {was} -> {now}")
    return found


def leaves(obj, prefix: str = "") -> dict[str, object]:
    if isinstance(obj, dict):
        out: dict[str, object] = {}
        for k, v in obj.items():
            out.update(leaves(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): obj}


def metrics_drift(base: str | None, work: Path, abs_tol: float, rel_tol: float) -> list[str]:
    if base is None or not work.is_file():
        return [f"{work}: missing {'in the base commit' if base is None else 'after dvc repro'}"]
    old, new = leaves(json.loads(base)), leaves(json.loads(work.read_text(encoding="utf-8")))
    found = [f"{k}: only in {'the base' if k in old else 'this run'}" for k in sorted(set(old) ^ set(new))]
    for key in sorted(set(old) & set(new)):
        a, b = old[key], new[key]
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            if not (math.isnan(a) and math.isnan(b)) and not abs(a - b) <= abs_tol + rel_tol * abs(a):
                found.append(f"{key}: {a} -> {b}")
        elif a != b:
            found.append(f"{key}: {a!r} -> {b!r}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="commit holding the expected dvc.lock (default: HEAD)")
    parser.add_argument("--exact", action="store_true", help="no float-dependent exception: every byte must match")
    parser.add_argument("--abs", type=float, default=1e-3, dest="abs_tol", help="metric tolerance, absolute")
    parser.add_argument("--rel", type=float, default=1e-3, dest="rel_tol", help="metric tolerance, relative")
    args = parser.parse_args(argv)

    base_lock = git_show(args.base, "dvc.lock")
    if base_lock is None:
        print(f"error: no dvc.lock in {args.base}: commit the lock `dvc repro` writes", file=sys.stderr)
        return 1
    base, work = stages(base_lock), stages(Path("dvc.lock").read_text(encoding="utf-8"))
    float_outs = {o["path"] for name, st in base.items() if float_dependent(name) for o in st.get("outs", [])}
    problems, moved = [], []
    for name in sorted(set(base) | set(work)):
        a, b = base.get(name), work.get(name)
        if a == b:
            continue
        if a is None or b is None:
            problems.append(f"{name}: stage {'added to' if a is None else 'missing from'} the lock")
            continue
        tolerant = float_dependent(name) and not args.exact
        found = changes(a, b, float_outs if tolerant else set(), skip_outs=tolerant)
        problems += [f"{name}: {f}" for f in found]
        if not found:
            moved.append(name)
    for table in TABLES:
        committed = git_show(args.base, table)
        if committed is None:
            problems.append(f"{table}: not committed in {args.base} (commit what `dvc repro` writes)")
        elif not moved and committed != (Path(table).read_text(encoding="utf-8") if Path(table).is_file() else None):
            problems.append(f"{table}: differs from {args.base}")
    if moved:
        drift = metrics_drift(git_show(args.base, TABLES[0]), Path(TABLES[0]), args.abs_tol, args.rel_tol)
        problems += [f"reports/metrics.json: {d}" for d in drift]
    if problems:
        print(f"error: dvc repro did not reproduce {args.base}:", file=sys.stderr)
        for p in problems[:40]:
            print(f"  {p}", file=sys.stderr)
        if len(problems) > 40:
            print(f"  ... and {len(problems) - 40} more (git diff HEAD -- dvc.lock)", file=sys.stderr)
        return 1
    if moved:
        print(
            f"reproduced, except the float-dependent outputs of {len(moved)} stage(s) ({', '.join(moved[:6])}"
            f"{', ...' if len(moved) > 6 else ''}); metrics within abs {args.abs_tol:g} + rel {args.rel_tol:g}"
        )
    else:
        print(f"reproduced byte for byte: dvc.lock and {', '.join(TABLES)} equal {args.base}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
