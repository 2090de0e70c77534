"""The README's verdict table ("What the suite found") is generated from the committed study's
``reports/study/claims.csv``, not written by hand, so the two cannot drift apart.

``python tests/test_readme_claims.py --write`` rewrites the table between the README's markers from
the CSV; the test fails when the README's table differs from what the CSV gives. The prose around the
table is written by hand and says, claim by claim, what the study can and cannot decide.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CLAIMS_CSV = ROOT / "reports" / "study" / "claims.csv"
BEGIN = "<!-- study-claims: generated from reports/study/claims.csv by `python tests/test_readme_claims.py --write` -->"
END = "<!-- /study-claims -->"
HEADER = (
    "| Paper claim | Line | Level | Measured on | Effect [95% CI] | p (Holm) | Seeds × images | Verdict |",
    "|---|---|---|---|---|---|---|---|",
)


def _num(v) -> str:
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) or pd.isna(v) else f"{float(v):+.3g}"


def _row(r: pd.Series) -> str:
    effect = "—" if pd.isna(r["effect"]) else f"{_num(r['effect'])} [{_num(r['ci_low'])}, {_num(r['ci_high'])}]"
    if pd.isna(r["p_value"]):
        p = "—"
    else:
        p = f"{r['p_value']:.3g}" + ("" if pd.isna(r["p_holm"]) else f" ({r['p_holm']:.3g})")
    size = "—" if pd.isna(r["n_seeds"]) else f"{int(r['n_seeds'])} × {int(r['n_images'])}"
    datasets = str(r["datasets"]) if isinstance(r["datasets"], str) and r["datasets"] else "(none)"
    reason = r["reason"] if isinstance(r["reason"], str) and r["reason"] else ""
    verdict = f"**{r['verdict']}**" + (f": {reason}" if reason else "")
    line = ("**primary**: " if bool(r["primary"]) else "") + f"`{r['variant']}` vs `full`"
    cells = (r["claim"], line, r["level"], f"{r['metric']} on {datasets}", effect, p, size, verdict)
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def table_from_csv(path: Path = CLAIMS_CSV) -> str:
    """The markdown table (with its markers) that ``path`` gives, one row per line of claims.csv."""
    frame = pd.read_csv(path, keep_default_na=True)
    return "\n".join([BEGIN, *HEADER, *(_row(r) for _, r in frame.iterrows()), END])


def _split(text: str) -> tuple[str, str, str]:
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{README}: the markers {BEGIN!r} and {END!r} are missing")
    head, rest = text.split(BEGIN, 1)
    body, tail = rest.split(END, 1)
    return head, BEGIN + body + END, tail


def test_readme_table_is_the_committed_claims_csv():
    _, current, _ = _split(README.read_text(encoding="utf-8"))
    assert current == table_from_csv(), "README verdict table is stale: python tests/test_readme_claims.py --write"


def test_every_line_of_the_csv_is_a_row(tmp_path):
    # The generator itself: a line of claims.csv with and without a measurement.
    csv = tmp_path / "claims.csv"
    csv.write_text(
        "claim,primary,variant,level,datasets,metric,n_seeds,n_images,effect,ci_low,ci_high,p_value,p_holm,verdict,reason\n"
        "c one,True,v1,Real-ESRNet,set-a set-b,psnr,5,28,0.25,-0.1,0.6,0.04,0.08,not supported,\n"
        'c one,False,v1,Real-ESRGAN,,niqe,,,,,,,,not measurable,"undertrained: x | y"\n'
    )
    rows = table_from_csv(csv).splitlines()
    assert rows[0] == BEGIN and rows[-1] == END and len(rows) == 2 + len(HEADER) + 2
    assert rows[3] == (
        "| c one | **primary**: `v1` vs `full` | Real-ESRNet | psnr on set-a set-b | +0.25 [-0.1, +0.6] | 0.04 (0.08) "
        "| 5 × 28 | **not supported** |"
    )
    assert rows[4].endswith("| — | — | — | **not measurable**: undertrained: x \\| y |")


if __name__ == "__main__":  # `python tests/test_readme_claims.py --write`: regenerate the README table
    if "--write" in sys.argv[1:]:
        head, _, tail = _split(README.read_text(encoding="utf-8"))
        README.write_text(head + table_from_csv() + tail, encoding="utf-8")
    else:
        print(table_from_csv())
