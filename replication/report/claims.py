"""The paper's ablation claims, tested line by line as declared in the claims definition
(``claims.yaml``, :mod:`replication.report.claims_def`), with calibrated statistics
(:mod:`replication.stats.verdicts`) and the not-measurable rules read from the runs' own logs.

Every line compares one ablation variant with the reference (``full``) at one level (Real-ESRNet or
Real-ESRGAN) on one metric and one group of data, oriented so that a positive effect is the paper's
prediction. Statistics by line kind:

* ``paired``: the seeds x images matrix of paired differences (same seed, same image), its grand
  mean and the crossed t-interval (df = min(S - 1, I - 1));
* ``spread``: the F test of the two variants' seed variances of the per-seed mean; the effect is the
  ratio of seed standard deviations (ablation / reference), so its "no difference" value is 1;
* ``instability``: per seed, the sd of a GAN loss curve over the second half of the GAN phase
  (:mod:`replication.report.instability`); a t-test of the per-seed differences (S - 1 df).

Multiplicity: Holm across the claims' primary lines; the secondary lines of a claim are Holm-adjusted
among themselves and are descriptive. Verdicts (``p_holm`` below ``rules.alpha``): *supported at this
scale* / *opposite direction observed at this scale*, otherwise *not supported at this scale*; with
fewer than ``rules.final_min_seeds`` seeds they read "preliminary (n seeds): ...". A line is *not
measurable* when a documented rule says the comparison cannot answer the claim (docs/claims.md):
missing runs, one seed, a test set in the tested variant's training distribution, undertrained
Real-ESRNets, a discriminator that has not learned, too few logged points for the instability sd.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from replication.evaluate.registry import METRICS
from replication.names import DEGRADATION_VARIANTS
from replication.report import instability
from replication.report.claims_def import ClaimDef, ClaimsDef, LineDef
from replication.report.curves import Curve
from replication.report.document import Block, Heading, Paragraph, Table
from replication.report.seeds import PHASE_LABELS, metric_header, parse_run, runs, seed_summary, seed_tables
from replication.stats.mde import components_from_mean_squares, min_detectable_effect
from replication.stats.verdicts import TestResult, crossed_test, holm, seed_t_test, spread_f_test

SYNTHETIC_PREFIX = "val-"
BICUBIC = "bicubic"
NOT_MEASURABLE = "not measurable"
SUPPORTED = "supported at this scale"
NOT_SUPPORTED = "not supported at this scale"
OPPOSITE = "opposite direction observed at this scale"
LOGIT_REAL, LOGIT_FAKE = "train/out_d_real", "train/out_d_fake"

CSV_COLUMNS = (
    "claim",
    "primary",
    "variant",
    "level",
    "datasets",
    "metric",
    "n_seeds",
    "n_images",
    "effect",
    "ci_low",
    "ci_high",
    "p_value",
    "p_holm",
    "verdict",
    "reason",
)


@dataclass(frozen=True)
class Context:
    """What the rules need besides the per-image metrics."""

    variant_degradation: Mapping[str, str]  # training degradation of every variant (params.yaml variants)
    val_degradation: str  # degradation of the main synthetic set val-<heldout> (validation.variant)
    curves: list[Curve] | None = None  # training logs; None when none were given


@dataclass(frozen=True)
class LineResult:
    claim: ClaimDef
    line: LineDef
    datasets: tuple[str, ...]
    lower_better: bool | None
    test: TestResult | None
    reasons: tuple[str, ...] = ()  # why not measurable (empty: measurable)
    notes: tuple[str, ...] = ()  # what was not checked, for the reason column of a measurable line
    p_holm: float = math.nan
    verdict: str = ""
    n_seeds: int = 0

    @property
    def measurable(self) -> bool:
        return self.test is not None and not self.reasons and math.isfinite(self.test.p_value)


@dataclass
class _Line:  # mutable while the rules run
    datasets: tuple[str, ...]
    lower_better: bool | None
    test: TestResult | None = None
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def synthetic_degradation(dataset: str, val_degradation: str) -> str | None:
    """The degradation of a synthetic set (``val-<heldout>`` or ``val-<heldout>-<variant>``); None for a
    real test set."""
    if not dataset.startswith(SYNTHETIC_PREFIX):
        return None
    for variant in DEGRADATION_VARIANTS:  # val-<heldout>-<variant> (artifacts.layout.extra_validation_dataset)
        if dataset.endswith(f"-{variant}"):
            return variant
    return val_degradation


def _dataset_groups(run_rows: pd.DataFrame, line: LineDef, ref: str, ctx: Context) -> list[tuple[str, ...]]:
    """The dataset groups of one declared line: the real sets pooled, the synthetic set(s) of the
    declared degradation pooled, or each synthetic set alone when none is declared."""
    if line.data == "training":
        return [()]
    have = run_rows[(run_rows["metric"] == line.metric) & run_rows["variant"].isin([line.variant, ref])]
    names = sorted(set(have["dataset"]))
    if line.data == "real":
        return [tuple(d for d in names if synthetic_degradation(d, ctx.val_degradation) is None)]
    synthetic = [d for d in names if synthetic_degradation(d, ctx.val_degradation) is not None]
    if line.degradation is None:
        return [(d,) for d in synthetic] or [()]
    return [tuple(d for d in synthetic if synthetic_degradation(d, ctx.val_degradation) == line.degradation)]


def _families(run_rows: pd.DataFrame) -> dict[tuple[str, str, str], pd.DataFrame]:
    """The tidy rows of every (variant, phase, metric), grouped once for all the lines."""
    # Not dict(groupby): a GroupBy has a `keys` attribute, which dict() would take for a mapping's.
    return {key: part for key, part in run_rows.groupby(["variant", "phase", "metric"], sort=False)}  # noqa: C416


def _matrix(
    families: dict[tuple[str, str, str], pd.DataFrame], variant: str, phase: str, metric: str, datasets: tuple[str, ...]
) -> pd.DataFrame:
    """(seeds x (dataset, image)) values of one run family."""
    part = families.get((variant, phase, metric))
    if part is None:
        return pd.DataFrame()
    sel = part[part["dataset"].isin(datasets)]
    if sel.empty:
        return pd.DataFrame()
    return sel.set_index(["seed", "dataset", "image"])["value"].unstack(["dataset", "image"]).sort_index(axis=1)


def _common(a: pd.DataFrame, b: pd.DataFrame, same_seeds: bool) -> tuple[np.ndarray, np.ndarray]:
    """Common images (finite in every seed of both), and the common seeds when paired."""
    if same_seeds:
        seeds = a.index.intersection(b.index)
        a, b = a.loc[seeds], b.loc[seeds]
    cols = a.columns.intersection(b.columns)
    a, b = a[cols], b[cols]
    finite = a.notna().all(axis=0) & b.notna().all(axis=0)
    return a.loc[:, finite].to_numpy(), b.loc[:, finite].to_numpy()


def _oriented(line: LineDef, variant: np.ndarray, reference: np.ndarray, lower_better: bool) -> np.ndarray:
    """Per-cell effect, positive in the paper's predicted direction."""
    ref_better = variant - reference if lower_better else reference - variant
    return ref_better if line.direction == "reference_better" else -ref_better


def _lower_better(run_rows: pd.DataFrame, metric: str) -> bool | None:
    flags = run_rows.loc[run_rows["metric"] == metric, "lower_better"]
    if len(flags):
        return bool(flags.iloc[0])
    spec = METRICS.get(metric)
    return spec.lower_better if spec is not None else None


def _metric_test(
    families: dict[tuple[str, str, str], pd.DataFrame],
    lower_better: bool | None,
    line: LineDef,
    ref: str,
    datasets: tuple[str, ...],
    alpha: float,
) -> _Line:
    out = _Line(datasets, lower_better)
    a, b = (_matrix(families, v, line.level, line.metric, datasets) for v in (line.variant, ref))
    missing = [v for v, m in ((line.variant, a), (ref, b)) if m.empty]
    if missing or not datasets:
        what = f"{PHASE_LABELS[line.level]} {line.metric} results on {line.data} sets"
        if line.degradation is not None:
            what += f" degraded by {line.degradation}"
        out.reasons.append(f"not run: no {what} of {', '.join(missing or [line.variant, ref])}")
        return out
    va, vb = _common(a, b, same_seeds=line.statistic == "paired")
    if va.size == 0 or vb.size == 0:
        out.reasons.append("no common seeds and images")
        return out
    n = min(va.shape[0], vb.shape[0])
    if n < 2:
        out.reasons.append(f"{n} seed: one training run cannot separate a variant from training noise")
        out.test = TestResult(math.nan, math.nan, math.nan, math.nan, 0, n, va.shape[1], "none")
        return out
    if line.statistic == "spread":
        mine, theirs = va.mean(axis=1), vb.mean(axis=1)
        test = spread_f_test(mine, theirs, 1.0 - alpha)
        if line.direction == "variant_better":  # the prediction is a smaller spread of the variant
            test = spread_f_test(theirs, mine, 1.0 - alpha)
        out.test = TestResult(
            test.effect, test.ci_low, test.ci_high, test.p_value, test.df, n, va.shape[1], test.method, test.null
        )
    else:
        out.test = crossed_test(_oriented(line, va, vb, bool(out.lower_better)), 1.0 - alpha)
    return out


def _instability_test(ctx: Context, line: LineDef, ref: str, variants: tuple[str, ...], defn: ClaimsDef) -> _Line:
    out = _Line((), True)
    if ctx.curves is None:
        out.reasons.append("not run: no training logs given")
        return out
    mine, theirs = (instability.instability_by_seed(ctx.curves, variants, v, line.metric) for v in (line.variant, ref))
    seeds = sorted(set(mine) & set(theirs))
    if not seeds:
        missing = [v for v, d in ((line.variant, mine), (ref, theirs)) if not d] or ["common seeds"]
        out.reasons.append(f"not run: no GAN-phase {line.metric} logs of {', '.join(missing)}")
        return out
    points = min(instability.second_half_points(ctx.curves, variants, v, line.metric) for v in (line.variant, ref))
    if points < defn.rules.instability_min_points:
        out.reasons.append(
            f"too few logged points: the sd rests on {points} point(s) of the second half of the GAN phase "
            f"(rule: at least {defn.rules.instability_min_points})"
        )
    diffs = np.array([mine[s] - theirs[s] for s in seeds])  # > 0: the reference swings less
    if line.direction == "variant_better":
        diffs = -diffs
    if len(seeds) < 2:
        out.reasons.append("1 seed: one training run cannot separate a variant from training noise")
        out.test = TestResult(float(diffs.mean()), math.nan, math.nan, math.nan, 0, 1, 1, "none")
        return out
    out.test = seed_t_test(diffs, 1.0 - defn.rules.alpha)
    return out


def _in_distribution(ctx: Context, claim: ClaimDef, line: LineDef, ref: str, datasets: tuple[str, ...]) -> str:
    """Rule: a synthetic set degraded by the tested variant's own training process (or, for a claim
    with ``neutral_sets_only``, by either compared variant's) cannot test generalisation."""
    own = {line.variant: ctx.variant_degradation.get(line.variant)}
    if claim.neutral_sets_only:
        own[ref] = ctx.variant_degradation.get(ref)
    for d in datasets:
        deg = synthetic_degradation(d, ctx.val_degradation)
        hits = [v for v, trained in own.items() if deg is not None and deg == trained]
        if hits:
            return f"in-distribution: {d} is degraded by {deg}, the training degradation of {', '.join(hits)}"
    return ""


def net_gains(run_rows: pd.DataFrame, tidy: pd.DataFrame, defn: ClaimsDef, ctx: Context) -> dict[str, float] | None:
    """{variant: how much its Real-ESRNet beats bicubic} in ``rules.undertrained_metric`` on the
    held-out synthetic sets (mean over seeds and images, the sets pooled, on the images both have; > 0:
    better than bicubic, in the metric's direction). None when there is no bicubic result to compare."""
    metric = defn.rules.undertrained_metric
    synthetic = {d for d in set(tidy["dataset"]) if synthetic_degradation(d, ctx.val_degradation) is not None}
    bic = tidy[(tidy["model"] == BICUBIC) & (tidy["metric"] == metric) & tidy["dataset"].isin(synthetic)]
    if bic.empty:
        return None
    lower = bool(bic["lower_better"].iloc[0])
    bic_values = bic.set_index(["dataset", "image"])["value"].rename("bicubic")
    nets = run_rows[(run_rows["phase"] == "net") & (run_rows["metric"] == metric) & run_rows["dataset"].isin(synthetic)]
    out = {}
    for variant, part in nets.groupby("variant", sort=True):
        per_image = part.groupby(["dataset", "image"])["value"].mean().rename("net")
        both = pd.concat([per_image, bic_values], axis=1, join="inner").dropna()
        if not both.empty:
            gain = float(both["net"].mean() - both["bicubic"].mean())
            out[str(variant)] = -gain if lower else gain
    return out


def _undertrained(gains: dict[str, float] | None, line: LineDef, ref: str, defn: ClaimsDef) -> tuple[str, str]:
    """Rule (Real-ESRNet lines): each compared Real-ESRNet must beat bicubic on the held-out synthetic
    sets by more than ``rules.undertrained_margin`` (:func:`net_gains`). Returns (reason, note)."""
    metric, margin = defn.rules.undertrained_metric, defn.rules.undertrained_margin
    if gains is None:
        return "", f"undertraining not checked: no {BICUBIC} {metric} on the synthetic sets"
    bad = [f"{v} {gains[v]:+.3g}" for v in (line.variant, ref) if v in gains and gains[v] <= margin]
    if bad:
        return (
            f"undertrained: Real-ESRNet does not beat {BICUBIC} in {metric} on the held-out synthetic sets "
            f"({'; '.join(bad)} vs {BICUBIC}; rule: > {margin:+g})",
            "",
        )
    return "", ""


def logit_gap(curves: list[Curve], variants: tuple[str, ...], variant: str, window: float) -> dict[int, float]:
    """{seed: mean real - fake discriminator logit over the last ``window`` of the GAN phase's logged points}."""
    by_run: dict[int, dict[str, Curve]] = {}
    for c in curves:
        run = parse_run(c.variant, variants)
        if (
            c.phase == "gan"
            and c.name in (LOGIT_REAL, LOGIT_FAKE)
            and run is not None
            and run[0] == variant
            and run[1] == "gan"
        ):
            by_run.setdefault(run[2], {})[c.name] = c
    out = {}
    for seed, pair in sorted(by_run.items()):
        if len(pair) < 2:
            continue
        real, fake = (np.asarray(pair[n].values, dtype=np.float64) for n in (LOGIT_REAL, LOGIT_FAKE))
        n = min(real.size, fake.size)
        if n == 0:
            continue
        k = max(1, math.ceil(window * n))
        out[seed] = float(np.mean(real[n - k : n] - fake[n - k : n]))
    return out


def _discriminator(
    ctx: Context, line: LineDef, ref: str, variants: tuple[str, ...], defn: ClaimsDef
) -> tuple[str, str]:
    """Rule (GAN lines of a claim about the discriminator): both compared discriminators must separate
    real from fake: mean over seeds of the last-quarter logit gap >= ``rules.disc_min_logit_gap``."""
    if ctx.curves is None:
        return "", "discriminator not checked: no training logs given"
    margin, bad, unchecked = defn.rules.disc_min_logit_gap, [], []
    for v in (line.variant, ref):
        gaps = logit_gap(ctx.curves, variants, v, defn.rules.disc_window)
        if not gaps:
            unchecked.append(v)
        elif float(np.mean(list(gaps.values()))) < margin:
            bad.append(f"{v} {np.mean(list(gaps.values())):+.3g}")
    reason = (
        f"discriminator has not learned: real - fake logit over the last {defn.rules.disc_window:g} of the GAN "
        f"phase {', '.join(bad)} (rule: >= {margin:g}; 0 is chance)"
        if bad
        else ""
    )
    note = f"discriminator not checked: no logits logged for {', '.join(unchecked)}" if unchecked else ""
    return reason, note


def _rules(
    ctx: Context,
    defn: ClaimsDef,
    gains: dict[str, float] | None,
    claim: ClaimDef,
    line: LineDef,
    datasets: tuple[str, ...],
    variants: tuple[str, ...],
) -> list[tuple[str, str]]:
    """(reason, note) of every not-measurable rule that applies to a measured line (docs/claims.md)."""
    ref, out = defn.reference, []
    if line.data == "synthetic":
        out.append((_in_distribution(ctx, claim, line, ref, datasets), ""))
    if line.level == "net":
        out.append(_undertrained(gains, line, ref, defn))
    if claim.needs_discriminator and line.level == "gan":
        out.append(_discriminator(ctx, line, ref, variants, defn))
    return out


def _words(effect: float, null: float, p_holm: float, alpha: float, n_seeds: int, final: int) -> str:
    words = (SUPPORTED if effect > null else OPPOSITE) if p_holm < alpha else NOT_SUPPORTED
    return f"preliminary ({n_seeds} seeds): {words}" if n_seeds < final else words


def verdict_lines(tidy: pd.DataFrame, variants: tuple[str, ...], defn: ClaimsDef, ctx: Context) -> list[LineResult]:
    """Every declared line on whatever runs exist, with its rules, Holm adjustment and verdict."""
    run_rows = runs(tidy, variants)
    ref, alpha = defn.reference, defn.rules.alpha
    families = _families(run_rows)
    gains = net_gains(run_rows, tidy, defn, ctx)
    raw: list[tuple[ClaimDef, LineDef, _Line]] = []
    for claim in defn.claims:
        for line in claim.lines:
            if line.statistic == "instability":
                measured = [_instability_test(ctx, line, ref, variants, defn)]
            else:
                lower = _lower_better(run_rows, line.metric)
                groups = _dataset_groups(run_rows, line, ref, ctx)
                measured = [_metric_test(families, lower, line, ref, datasets, alpha) for datasets in groups]
            for r in measured:
                if r.test is not None:  # measured at all: the rules on what the measurement can mean
                    for reason, note in _rules(ctx, defn, gains, claim, line, r.datasets, variants):
                        r.reasons += [reason] if reason else []
                        r.notes += [note] if note else []
                raw.append((claim, line, r))

    def ok(r: _Line) -> bool:
        return r.test is not None and not r.reasons and math.isfinite(r.test.p_value)

    p_holm = np.full(len(raw), math.nan)
    primary = [i for i, (_, line, r) in enumerate(raw) if line.primary and ok(r)]
    p_holm[primary] = holm(np.array([raw[i][2].test.p_value for i in primary]))  # type: ignore[union-attr]
    for claim in defn.claims:
        idx = [i for i, (c, line, r) in enumerate(raw) if c is claim and not line.primary and ok(r)]
        p_holm[idx] = holm(np.array([raw[i][2].test.p_value for i in idx]))  # type: ignore[union-attr]
    out = []
    for i, (claim, line, r) in enumerate(raw):
        n_seeds = r.test.n_seeds if r.test is not None else 0
        if ok(r):
            t = r.test
            assert t is not None
            verdict = _words(t.effect, t.null, float(p_holm[i]), alpha, n_seeds, defn.rules.final_min_seeds)
        else:
            verdict = NOT_MEASURABLE
        out.append(
            LineResult(
                claim,
                line,
                r.datasets,
                r.lower_better,
                r.test,
                tuple(r.reasons),
                tuple(r.notes),
                float(p_holm[i]),
                verdict,
                n_seeds,
            )
        )
    return out


def _metric_label(r: LineResult) -> str:
    line = r.line
    if line.statistic == "instability":
        return f"{line.metric} (second-half sd)"
    if line.statistic == "spread":
        return f"{line.metric} (seed-sd ratio)"
    return line.metric


def claims_frame(lines: list[LineResult]) -> pd.DataFrame:
    """The verdict table (claims.csv): one row per line, columns :data:`CSV_COLUMNS`."""
    rows = []
    for r in lines:
        t = r.test

        def num(v: float | None) -> float | None:
            return v if v is not None and math.isfinite(v) else None

        rows.append(
            {
                "claim": r.claim.text,
                "primary": r.line.primary,
                "variant": r.line.variant,
                "level": PHASE_LABELS[r.line.level],
                "datasets": " ".join(r.datasets),
                "metric": _metric_label(r),
                "n_seeds": t.n_seeds if t is not None else None,
                "n_images": t.n_images if t is not None else None,
                "effect": num(t.effect if t is not None else None),
                "ci_low": num(t.ci_low if t is not None else None),
                "ci_high": num(t.ci_high if t is not None else None),
                "p_value": num(t.p_value if t is not None else None),
                "p_holm": num(r.p_holm),
                "verdict": r.verdict,
                "reason": "; ".join(r.reasons or r.notes),
            }
        )
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS)).astype({"n_seeds": "Int64", "n_images": "Int64"})


def claims_csv_text(lines: list[LineResult]) -> str:
    """claims.csv as written by the report and by ``replication claims`` (the same bytes)."""
    return claims_frame(lines).to_csv(index=False, float_format="%.6g", lineterminator="\n")


def power_rows(lines: list[LineResult], seed_counts: tuple[int, ...] = (5, 6)) -> list[dict]:
    """Per measured crossed (paired) line: its variance components and the smallest effect it detects
    80% of the time (two-sided, ``alpha`` 0.05, before Holm), at the measured seeds and images and at
    each of ``seed_counts`` with the same images (docs/claims.md, "Power")."""
    out = []
    for r in lines:
        t = r.test
        if t is None or t.mean_squares is None or t.n_seeds < 2:
            continue
        comp = components_from_mean_squares(*t.mean_squares, t.n_seeds, t.n_images)
        row = {
            "claim": r.claim.id,
            "variant": r.line.variant,
            "level": PHASE_LABELS[r.line.level],
            "metric": r.line.metric,
            "datasets": " ".join(r.datasets),
            "seed_sd": math.sqrt(comp.seed),
            "image_sd": math.sqrt(comp.image),
            "residual_sd": math.sqrt(comp.residual),
            "n_seeds": t.n_seeds,
            "n_images": t.n_images,
            "mde": min_detectable_effect(comp, t.n_seeds, t.n_images),
        }
        row.update({f"mde_{s}_seeds": min_detectable_effect(comp, s, t.n_images) for s in seed_counts})
        out.append(row)
    return out


def _fmt(v: float) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v:+.4g}"


def _measured_on(r: LineResult) -> str:
    line = r.line
    if line.statistic == "instability":
        return f"sd of `{line.metric}` over the second half of each GAN run ↓"
    header = metric_header(line.metric, r.lower_better) if r.lower_better is not None else line.metric
    what = f"seed-sd ratio of {header}" if line.statistic == "spread" else header
    data = ", ".join(r.datasets) if r.datasets else f"({line.data} sets: none)"
    return f"{what} on {data}"


COLUMNS = (
    "Claim (paper)",
    "Compared",
    "Level",
    "Measured on",
    "Effect",
    "95% CI",
    "p (Holm)",
    "Seeds × images",
    "Verdict",
)


def claims_table(lines: list[LineResult], reference: str) -> Table:
    rows = []
    for r in lines:
        t = r.test
        effect = ci = p = size = "—"
        if t is not None and math.isfinite(t.effect):
            effect = f"{t.effect:.4g}" if t.null == 1.0 else _fmt(t.effect)
            ci = f"[{_fmt(t.ci_low)}, {_fmt(t.ci_high)}]" if math.isfinite(t.ci_low) else "—"
            p = f"{t.p_value:.3g}" + (f" ({r.p_holm:.3g})" if math.isfinite(r.p_holm) else "")
            size = f"{t.n_seeds} × {t.n_images}"
        verdict = f"**{r.verdict}**" + (f": {'; '.join(r.reasons)}" if r.reasons else "")
        rows.append(
            (
                r.claim.text + (" — **primary**" if r.line.primary else ""),
                f"`{r.line.variant}` vs `{reference}`",
                PHASE_LABELS[r.line.level],
                _measured_on(r),
                effect,
                ci,
                p,
                size,
                verdict,
            )
        )
    caption = (
        f"Paper claims, one line per declared comparison (claims.yaml; docs/claims.md). Effect: paired "
        f"difference against `{reference}` (same seed, same image), oriented so that > 0 is the paper's "
        "prediction, in the metric's unit; for the seed-spread line the ratio of seed sds (> 1: the prediction). "
        "CI: crossed seeds × images t-interval, df = min(S − 1, I − 1) (per-seed t for the instability line, F for "
        "the spread). p (Holm): raw p-value and, in brackets, Holm-adjusted across the claims' primary lines (or "
        "within the claim for secondary lines). Every verdict holds at this scale only."
    )
    return Table(COLUMNS, tuple(rows), caption)


def claims_blocks(
    tidy: pd.DataFrame, variants: tuple[str, ...], lines: list[LineResult] | None, reference: str
) -> list[Block]:
    """The report's "Paper claims" section and the seed-aggregated tables."""
    run_rows = runs(tidy, variants)
    blocks: list[Block] = [Heading("Paper claims: verdicts")]
    if run_rows.empty:
        return [*blocks, Paragraph("No retrained runs found: no claim can be tested.")]
    if lines is None:
        blocks.append(Paragraph("Verdicts not computed."))
    else:
        blocks.append(claims_table(lines, reference))
    blocks.append(Heading("Retrained runs: mean over seeds ± seed spread"))
    for dataset, table in seed_tables(seed_summary(run_rows), variants):
        blocks += [Heading(f"`{dataset}`", level=3), table]
    return blocks
