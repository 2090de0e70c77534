"""Power of the crossed seeds x images test (:mod:`replication.stats.verdicts`): the smallest true
effect it detects with a given probability, and the variance components a committed study implies.

The power is computed by simulating the test itself (not a normal approximation): ``trials`` null
matrices are drawn once from the variance components with a fixed seed, and a true effect ``delta``
only shifts their grand means (the variance estimate does not depend on a shift), so the rejection
rate is a monotone function of ``delta`` solved by bisection on the same draws.

``python -m replication.stats.power CLAIMS_CSV`` prints the minimum detectable effects of every
paired line of a claims table made by the earlier two-level bootstrap (the committed study's format),
for several seed counts (docs/claims.md, "Power").
"""

from __future__ import annotations

import argparse
import math
import sys

from scipy import stats

from replication.stats.mde import Components, min_detectable_effect
from replication.stats.verdicts import LEVEL


def components_from_bootstrap(seed_sd: float, ci_low: float, ci_high: float, n_seeds: int, n_images: int) -> Components:
    """Variance components implied by a line of the earlier two-level-bootstrap claims table.

    ``seed_sd`` (sd of the per-seed effects) gives the seed level. The percentile CI's half-width over
    1.96 is the bootstrap's standard error, whose square is about
    ``(S-1)/S * seed_sd^2 / S + (I-1)/I * var_within / (S I)`` (seeds resampled, then images within
    each seed): solved for ``var_within``, the image-to-image variance of the difference within one
    seed. How that splits into a shared image part and a seed x image part cannot be told from the
    table; all of it is taken as shared (the split that gives the largest variance of the mean, so
    the detectable effects below are conservative)."""
    s, i = n_seeds, n_images
    se_boot = (ci_high - ci_low) / (2.0 * stats.norm.ppf(0.5 + LEVEL / 2.0))
    seed_part = (s - 1) / s * seed_sd**2 / s
    within = max(se_boot**2 - seed_part, 0.0) * s * i * i / max(i - 1, 1)
    return Components(seed=seed_sd**2, image=within, residual=0.0)


def power_table(claims_csv: str, seeds: tuple[int, ...] = (3, 5, 6), images: dict[str, int] | None = None) -> str:
    """Markdown table: per paired line of an old-format claims table, the 80%-power detectable effect."""
    import pandas as pd

    df = pd.read_csv(claims_csv)
    need = {"statistic", "seed_sd", "ci_low", "ci_high", "n_seeds", "n_images", "metric", "level", "variant"}
    if not need <= set(df.columns):
        raise SystemExit(f"{claims_csv}: not a two-level-bootstrap claims table (needs {sorted(need)})")
    rows = df[(df["statistic"] == "paired") & (df["data"] != "training")]
    head = ["variant", "level", "metric", "datasets", "seed sd", "within-seed image sd", "images"]
    head += [f"MDE, {s} seeds" for s in seeds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows.itertuples(index=False):
        comp = components_from_bootstrap(r.seed_sd, r.ci_low, r.ci_high, int(r.n_seeds), int(r.n_images))
        n_img = (images or {}).get(str(r.data), int(r.n_images))
        mdes = [min_detectable_effect(comp, s, n_img) for s in seeds]
        lines.append(
            "| "
            + " | ".join(
                [
                    str(r.variant),
                    str(r.level),
                    str(r.metric),
                    str(r.datasets),
                    f"{math.sqrt(comp.seed):.3g}",
                    f"{math.sqrt(comp.image):.3g}",
                    str(n_img),
                    *(f"{m:.3g}" for m in mdes),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("claims_csv")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 5, 6])
    parser.add_argument("--real-images", type=int, default=None, help="images of the pooled real sets")
    args = parser.parse_args(argv)
    images = {"real": args.real_images} if args.real_images else None
    print(power_table(args.claims_csv, tuple(args.seeds), images))
    return 0


if __name__ == "__main__":
    sys.exit(main())
