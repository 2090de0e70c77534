"""The paper's ablation claims, each tested as a paired difference against ``full`` with a CI from a
two-level bootstrap over seeds and images (replication/evaluate/bootstrap.py), and a verdict.

Every line states what was compared (variant, phase, metric, data), the effect oriented so that a
positive value means ``full`` is better (the paper's direction), the seed spread of that effect, the
95% CI, how many seeds and images it rests on, and the verdict: *reproduced* (CI above 0),
*contradicted* (CI below 0) or *inconclusive at this scale*. Whatever runs exist are used: a missing
variant or phase gives a "not run" line, one seed gives "inconclusive (1 seed)".

Data: ``synthetic`` means each synthetic validation set (dataset names starting with ``val-``; they
have a ground truth) on its own; ``real`` pools every real test set's images (no ground truth, so
no-reference metrics only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from replication.evaluate import bootstrap
from replication.evaluate.registry import METRICS
from replication.report import instability
from replication.report.curves import Curve
from replication.report.document import Block, Heading, Paragraph, Table
from replication.report.seeds import PHASE_LABELS, metric_header, runs, seed_summary, seed_tables

REFERENCE = "full"
SYNTHETIC_PREFIX = "val-"


@dataclass(frozen=True)
class Evidence:
    claim: str  # the paper's claim, in words
    variant: str  # the ablation compared with REFERENCE
    phase: Literal["net", "gan"]
    metric: str
    data: Literal["synthetic", "real", "training"]
    statistic: Literal["paired", "spread"] = "paired"


_SECOND_ORDER = "second-order degradation beats first-order"
_SINC = "sinc filters remove ringing and overshoot"
_UNET = "the U-Net discriminator beats the VGG-style one"
_SN = "spectral norm stabilises the U-Net discriminator"

# The paper judged the degradation ablations on Real-ESRNet (and we also look at the GAN level), the
# discriminator ablations on Real-ESRGAN.
CLAIMS: tuple[Evidence, ...] = (
    Evidence(_SECOND_ORDER, "first_order", "net", "psnr", "synthetic"),
    Evidence(_SECOND_ORDER, "first_order", "net", "niqe", "real"),
    Evidence(_SECOND_ORDER, "first_order", "gan", "niqe", "real"),
    Evidence(_SINC, "no_sinc", "net", "ringing", "synthetic"),
    Evidence(_SINC, "no_sinc", "gan", "ringing", "synthetic"),
    Evidence(_UNET, "vgg_disc", "gan", "niqe", "real"),
    Evidence(_UNET, "vgg_disc", "gan", "psnr", "synthetic"),
    Evidence(_SN, "unet_no_sn", "gan", "niqe", "real", "spread"),
    Evidence(_SN, "unet_no_sn", "gan", "niqe", "real"),
)

COLUMNS = (
    "Claim (paper)",
    "Compared",
    "Level",
    "Measured on",
    "Effect (full better > 0) ± seed sd",
    "95% CI",
    "Seeds",
    "Images",
    "Verdict",
)


@dataclass(frozen=True)
class ClaimResult:
    evidence: Evidence
    datasets: tuple[str, ...]
    lower_better: bool | None
    estimate: bootstrap.Estimate | None
    verdict: str


def _datasets(runs: pd.DataFrame, ev: Evidence) -> list[tuple[str, ...]]:
    """The dataset groups one evidence line is computed on (each synthetic set alone, the real sets pooled)."""
    have = runs[(runs["metric"] == ev.metric) & (runs["variant"].isin([ev.variant, REFERENCE]))]
    names = sorted(set(have["dataset"]))
    synthetic = [d for d in names if d.startswith(SYNTHETIC_PREFIX)]
    real = tuple(d for d in names if not d.startswith(SYNTHETIC_PREFIX))
    if ev.data == "synthetic":
        return [(d,) for d in synthetic]
    return [real] if real else []


def _matrix(runs: pd.DataFrame, variant: str, phase: str, metric: str, datasets: tuple[str, ...]) -> pd.DataFrame:
    """(seeds × (dataset, image)) values of one run family."""
    sel = runs[
        (runs["variant"] == variant)
        & (runs["phase"] == phase)
        & (runs["metric"] == metric)
        & (runs["dataset"].isin(datasets))
    ]
    if sel.empty:
        return pd.DataFrame()
    return sel.set_index(["seed", "dataset", "image"])["value"].unstack(["dataset", "image"]).sort_index(axis=1)


def _aligned(a: pd.DataFrame, b: pd.DataFrame, same_seeds: bool) -> tuple[np.ndarray, np.ndarray]:
    """Common images (finite in every seed of both), and common seeds when the statistic is paired."""
    if a.empty or b.empty:
        return np.empty((0, 0)), np.empty((0, 0))
    if same_seeds:
        seeds = a.index.intersection(b.index)
        a, b = a.loc[seeds], b.loc[seeds]
    cols = a.columns.intersection(b.columns)
    a, b = a[cols], b[cols]
    finite = a.notna().all(axis=0) & b.notna().all(axis=0)
    return a.loc[:, finite].to_numpy(), b.loc[:, finite].to_numpy()


def evaluate_claim(
    runs: pd.DataFrame, ev: Evidence, datasets: tuple[str, ...], n_boot: int, rng: np.random.Generator
) -> ClaimResult:
    lower = runs.loc[runs["metric"] == ev.metric, "lower_better"]
    spec = METRICS.get(ev.metric)
    lower_better = bool(lower.iloc[0]) if len(lower) else (spec.lower_better if spec is not None else None)
    a, b = (_matrix(runs, v, ev.phase, ev.metric, datasets) for v in (ev.variant, REFERENCE))
    va, vb = _aligned(a, b, same_seeds=ev.statistic == "paired")
    if va.size == 0 or vb.size == 0:
        missing = [v for v, m in ((ev.variant, a), (REFERENCE, b)) if m.empty]
        why = f"not run: no {PHASE_LABELS[ev.phase]} results of {', '.join(missing)}" if missing else "no common data"
        return ClaimResult(ev, datasets, lower_better, None, why)
    if ev.statistic == "spread":
        if min(va.shape[0], vb.shape[0]) < 2:
            n = min(va.shape[0], vb.shape[0])
            return ClaimResult(ev, datasets, lower_better, None, f"{bootstrap.INCONCLUSIVE} ({n} seed)")
        est = bootstrap.spread_difference(va, vb, n_boot, rng)
    else:
        est = bootstrap.paired_difference(va, vb, bool(lower_better), n_boot, rng)
    return ClaimResult(ev, datasets, lower_better, est, bootstrap.verdict(est))


def evaluate_claims(runs: pd.DataFrame, n_boot: int, seed: int) -> list[ClaimResult]:
    """Every claim's evidence lines on whatever runs exist; deterministic given ``seed``."""
    out = []
    for i, ev in enumerate(CLAIMS):
        groups = _datasets(runs, ev) or [()]
        for j, datasets in enumerate(groups):
            # One generator per line, seeded by its position: a line does not change when another is added.
            rng = np.random.default_rng([seed, i, j])
            out.append(evaluate_claim(runs, ev, datasets, n_boot, rng))
    return out


def _fmt(v: float) -> str:
    return "nan" if math.isnan(v) else f"{v:+.4g}"


def _measured_on(r: ClaimResult) -> str:
    ev = r.evidence
    if ev.data == "training":
        return f"sd of `{ev.metric}` over the second half of each GAN run (lower = more stable) ↓"
    header = metric_header(ev.metric, r.lower_better) if r.lower_better is not None else ev.metric
    what = f"seed sd of {header}" if ev.statistic == "spread" else header
    data = ", ".join(r.datasets) if r.datasets else f"({ev.data} sets: none)"
    return f"{what} on {data}"


def claims_table(results: list[ClaimResult]) -> Table:
    rows = []
    for r in results:
        ev, est = r.evidence, r.estimate
        if est is None:
            effect = ci = seeds = images = "—"
        else:
            spread = "" if math.isnan(est.seed_spread) else f" ± {est.seed_spread:.3g}"
            effect = f"{_fmt(est.effect)}{spread}"
            ci = f"[{_fmt(est.ci_low)}, {_fmt(est.ci_high)}]"
            seeds, images = str(est.n_seeds), str(est.n_images)
        rows.append(
            (
                ev.claim,
                f"`{ev.variant}` vs `{REFERENCE}`",
                PHASE_LABELS[ev.phase],
                _measured_on(r),
                effect,
                ci,
                seeds,
                images,
                f"**{r.verdict}**",
            )
        )
    caption = (
        "Paper claims: paired difference of the ablation against `full` (same seeds, same images), oriented so "
        "that > 0 means `full` is better, in the metric's unit; ± the standard deviation over seeds of the per-seed "
        "effect; 95% CI from a two-level bootstrap (seeds, then images within each seed). For the seed-spread "
        "line the effect is the ablation's seed sd minus `full`'s. Verdict: reproduced if the CI lies above 0, "
        "contradicted if below, inconclusive otherwise or with one seed."
    )
    return Table(COLUMNS, tuple(rows), caption)


INSTABILITY = Evidence(_SN, "unet_no_sn", "gan", instability.LOSS, "training")


def instability_claim(
    curves: list[Curve], variants: tuple[str, ...], n_boot: int, rng: np.random.Generator
) -> ClaimResult:
    """Training instability of ``unet_no_sn`` vs ``full``, paired by seed (one value per run)."""
    ev = INSTABILITY
    mine, ref = (instability.instability_by_seed(curves, variants, v) for v in (ev.variant, REFERENCE))
    seeds = sorted(set(mine) & set(ref))
    if not seeds:
        missing = [v for v, d in ((ev.variant, mine), (REFERENCE, ref)) if not d] or ["common seeds"]
        return ClaimResult(ev, (), True, None, f"not run: no GAN training logs of {', '.join(missing)}")
    a = np.array([[mine[s]] for s in seeds])
    b = np.array([[ref[s]] for s in seeds])
    est = bootstrap.paired_difference(a, b, True, n_boot, rng)
    return ClaimResult(ev, (), True, est, bootstrap.verdict(est))


def claim_results(
    tidy: pd.DataFrame, variants: tuple[str, ...], n_boot: int, seed: int, curves: list[Curve] | None = None
) -> list[ClaimResult]:
    """Every evidence line, from the tidy metrics (and the training curves, for the stability line);
    empty when there are no retrained runs. Deterministic given ``seed``."""
    run_rows = runs(tidy, variants)
    if run_rows.empty:
        return []
    results = evaluate_claims(run_rows, n_boot, seed)
    rng = np.random.default_rng([seed, len(CLAIMS)])
    results.append(instability_claim(curves or [], variants, n_boot, rng))
    return results


# The verdict table as data (claims.csv beside the report): one row per evidence line.
CSV_COLUMNS = (
    "claim",
    "variant",
    "reference",
    "level",
    "metric",
    "statistic",
    "data",
    "datasets",
    "lower_better",
    "effect",
    "seed_sd",
    "ci_low",
    "ci_high",
    "ci_level",
    "n_seeds",
    "n_images",
    "verdict",
)


def claims_frame(results: list[ClaimResult]) -> pd.DataFrame:
    """``results`` as a table with :data:`CSV_COLUMNS`: the effect is oriented so that > 0 means
    ``full`` is better, in the metric's unit; statistics are empty where no estimate exists."""
    rows = []
    for r in results:
        ev, est = r.evidence, r.estimate
        stats: dict[str, object] = dict.fromkeys(
            ("effect", "seed_sd", "ci_low", "ci_high", "ci_level", "n_seeds", "n_images")
        )
        if est is not None:
            stats = {
                "effect": est.effect,
                "seed_sd": est.seed_spread,
                "ci_low": est.ci_low,
                "ci_high": est.ci_high,
                "ci_level": est.level,
                "n_seeds": est.n_seeds,
                "n_images": est.n_images,
            }
        rows.append(
            {
                "claim": ev.claim,
                "variant": ev.variant,
                "reference": REFERENCE,
                "level": PHASE_LABELS[ev.phase],
                "metric": ev.metric if ev.data != "training" else f"{ev.metric} (second-half sd)",
                "statistic": ev.statistic,
                "data": ev.data,
                "datasets": " ".join(r.datasets),
                "lower_better": r.lower_better,
                **stats,
                "verdict": r.verdict,
            }
        )
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS)).astype({"n_seeds": "Int64", "n_images": "Int64"})


def claims_blocks(
    tidy: pd.DataFrame,
    variants: tuple[str, ...],
    n_boot: int,
    seed: int,
    curves: list[Curve] | None = None,
    results: list[ClaimResult] | None = None,
) -> list[Block]:
    """The report's "Paper claims" section and the seed-aggregated tables, from the tidy metrics (and
    the training curves, for the stability line). ``results``: :func:`claim_results` of the same
    inputs when the caller already has them (the bootstrap is not free)."""
    run_rows = runs(tidy, variants)
    blocks: list[Block] = [Heading("Paper claims: verdicts")]
    if run_rows.empty:
        return [*blocks, Paragraph("No retrained runs found: no claim can be tested.")]
    if results is None:
        results = claim_results(tidy, variants, n_boot, seed, curves)
    blocks.append(claims_table(results))
    blocks.append(Heading("Retrained runs: mean over seeds ± seed spread"))
    for dataset, table in seed_tables(seed_summary(run_rows), variants):
        blocks += [Heading(f"`{dataset}`", level=3), table]
    return blocks
