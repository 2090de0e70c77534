"""Training instability of a run from its DVCLive curves, for the claim that spectral norm stabilises
the U-Net discriminator.

Measure: the standard deviation of the generator's adversarial loss (``train/l_g_gan``, logged as a
mean over ``log_every`` steps) over the second half of the GAN phase's logged points. A discriminator
that trains unstably makes this loss swing from log point to log point; the first half is left out
so that the initial transient does not count. Lower is more stable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from replication.report.curves import Curve
from replication.report.seeds import parse_run

LOSS = "train/l_g_gan"


def second_half_sd(values: tuple[float, ...]) -> float:
    """Sample standard deviation of the second half of a curve's values (NaN with fewer than 2 points)."""
    tail = np.asarray(values[len(values) // 2 :], dtype=np.float64)
    tail = tail[np.isfinite(tail)]
    return float(tail.std(ddof=1)) if tail.size >= 2 else math.nan


def _gan_curves(curves: Iterable[Curve], variants: Iterable[str], variant: str, name: str) -> dict[int, Curve]:
    """{seed: curve ``name``} of ``variant``'s GAN-phase runs (run folders ``<variant>-s<seed>``)."""
    variants = tuple(variants)
    out = {}
    for c in curves:
        run = parse_run(c.variant, variants)
        if c.phase == "gan" and c.name == name and run is not None and run[0] == variant and run[1] == "gan":
            out[run[2]] = c
    return dict(sorted(out.items()))


def instability_by_seed(
    curves: Iterable[Curve], variants: Iterable[str], variant: str, name: str = LOSS
) -> dict[int, float]:
    """{seed: second-half sd of curve ``name``} of ``variant``'s GAN-phase runs."""
    out = {}
    for seed, c in _gan_curves(curves, variants, variant, name).items():
        value = second_half_sd(c.values)
        if not math.isnan(value):
            out[seed] = value
    return out


def second_half_points(curves: Iterable[Curve], variants: Iterable[str], variant: str, name: str = LOSS) -> int:
    """The fewest finite logged points any of ``variant``'s GAN runs has in the second half of ``name``
    (0 without runs): what :func:`second_half_sd` rests on."""
    counts = [
        int(np.isfinite(np.asarray(c.values[len(c.values) // 2 :], dtype=np.float64)).sum())
        for c in _gan_curves(curves, variants, variant, name).values()
    ]
    return min(counts, default=0)
