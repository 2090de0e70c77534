"""Claim lines from the claims definition: statistics, not-measurable rules, Holm, verdict words, and
the false-verdict rate of the whole verdict table on simulated null studies."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from replication.report.claims import (
    NOT_MEASURABLE,
    NOT_SUPPORTED,
    OPPOSITE,
    SUPPORTED,
    Context,
    claims_frame,
    claims_table,
    logit_gap,
    power_rows,
    synthetic_degradation,
    verdict_lines,
)
from replication.report.claims_def import ClaimDef, ClaimsDef, LineDef, load_claims
from replication.report.curves import Curve
from replication.report.seeds import parse_run, runs, seed_summary, seed_tables
from replication.strict import ParamsError

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("full", "first_order", "no_sinc", "vgg_disc", "unet_no_sn", "bsrgan_degradation")
DEGRADATION = {
    "full": "second_order",
    "first_order": "first_order",
    "no_sinc": "no_sinc",
    "vgg_disc": "second_order",
    "unet_no_sn": "second_order",
    "bsrgan_degradation": "bsrgan",
}
LOWER_BETTER = {"psnr": False, "niqe": True, "brisque": True, "ringing": True, "noise_sigma": True, "edge_width": True}
REAL = {"realsrset": 8, "realesrgan-inputs": 6}
SYNTHETIC = {"val-set14": 10, "val-set14-first_order": 10, "val-set14-bsrgan": 10}
REAL_METRICS = ("niqe", "brisque", "noise_sigma", "edge_width")
SYNTHETIC_METRICS = ("psnr", "ringing")
NET_VARIANTS = ("full", "first_order", "no_sinc")  # D-only ablations have no Real-ESRNet of their own
GAN_VARIANTS = ("full", "first_order", "no_sinc", "vgg_disc", "unet_no_sn")


@pytest.fixture(scope="module")
def definition() -> ClaimsDef:
    return load_claims(ROOT / "claims.yaml")


def _frame(rows: dict[str, list]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": rows["model"],
            "source": "retrained-study",
            "profile": "study",
            "dataset": rows["dataset"],
            "subset": "full",
            "image": rows["image"],
            "metric": rows["metric"],
            "value": np.asarray(rows["value"], dtype=np.float64),
            "lower_better": [LOWER_BETTER[m] for m in rows["metric"]],
        }
    )


def simulated_study(
    rng: np.random.Generator,
    n_seeds: int = 5,
    effects: dict[tuple[str, str], float] | None = None,
    seed_sd: float = 0.3,
    image_sd: float = 0.4,
    resid_sd: float = 0.2,
    bicubic_gap: float = 1.0,
) -> pd.DataFrame:
    """Tidy per-image metrics of every variant, phase and seed on real and synthetic sets. Under the
    null (``effects`` empty) no variant differs from another in expectation: a run has a random seed
    offset, each variant a random per-image deviation, each cell noise. ``effects[(variant, metric)]``
    adds a true shift in the metric's 'better' direction; Real-ESRNets beat bicubic by ``bicubic_gap`` dB."""
    effects = effects or {}
    rows: dict[str, list] = {"model": [], "dataset": [], "image": [], "metric": [], "value": []}
    sets = {**REAL, **SYNTHETIC}
    base = {(d, m): rng.normal(20.0, 2.0, n) for d, n in sets.items() for m in (REAL_METRICS + SYNTHETIC_METRICS)}
    models = [(v, "net") for v in NET_VARIANTS] + [(v, "gan") for v in GAN_VARIANTS]
    for d, n in sets.items():
        metrics = SYNTHETIC_METRICS if d in SYNTHETIC else REAL_METRICS
        for m in metrics:
            dev = {v: rng.normal(0.0, image_sd, n) for v in VARIANTS}  # variant x image: shared by its seeds
            for v, phase in models:
                for s in range(n_seeds):
                    shift = effects.get((v, m), 0.0) * (-1.0 if LOWER_BETTER[m] else 1.0)
                    values = base[(d, m)] + dev[v] + rng.normal(0.0, seed_sd) + rng.normal(0.0, resid_sd, n) + shift
                    model = f"{v}-s{s}" + ("-net" if phase == "net" else "")
                    rows["model"] += [model] * n
                    rows["dataset"] += [d] * n
                    rows["image"] += [f"im{i}.png" for i in range(n)]
                    rows["metric"] += [m] * n
                    rows["value"] += list(values)
            if m == "psnr":
                rows["model"] += ["bicubic"] * n
                rows["dataset"] += [d] * n
                rows["image"] += [f"im{i}.png" for i in range(n)]
                rows["metric"] += [m] * n
                rows["value"] += list(base[(d, m)] - bicubic_gap)
    return _frame(rows)


def simulated_logs(
    rng: np.random.Generator,
    n_seeds: int = 5,
    points: int = 40,
    gap: float = 1.0,
    wobble: dict[str, float] | None = None,
) -> list[Curve]:
    """GAN-phase logs: discriminator logits ``gap`` apart, and a generator loss whose swing per run is
    random (the same distribution for every variant unless ``wobble`` scales one)."""
    out = []
    steps = tuple(range(25, 25 * (points + 1), 25))
    for v in GAN_VARIANTS:
        for s in range(n_seeds):
            run = f"{v}-s{s}"
            sd = 0.05 * math.exp(rng.normal(0.0, 0.3)) * (wobble or {}).get(v, 1.0)
            out.append(Curve(run, "gan", "train/l_g_gan", steps, tuple(rng.normal(0.7, sd, points))))
            out.append(Curve(run, "gan", "train/out_d_real", steps, tuple(gap / 2 + rng.normal(0, 0.05, points))))
            out.append(Curve(run, "gan", "train/out_d_fake", steps, tuple(-gap / 2 + rng.normal(0, 0.05, points))))
    return out


def _ctx(curves: list[Curve] | None) -> Context:
    return Context(DEGRADATION, "second_order", curves)


def _lines(tidy, definition, curves=None):
    return verdict_lines(tidy, VARIANTS, definition, _ctx(curves))


def _one(lines, variant, level, metric, datasets=None, statistic="paired"):
    hits = [
        r
        for r in lines
        if r.line.variant == variant
        and r.line.level == level
        and r.line.metric == metric
        and r.line.statistic == statistic
        and (datasets is None or r.datasets == datasets)
    ]
    assert len(hits) == 1, [(r.line, r.datasets) for r in hits]
    return hits[0]


def test_definition_is_strict_and_declares_one_primary_per_claim(definition, tmp_path):
    assert [c.id for c in definition.claims] == ["second_order", "sinc", "unet_disc", "spectral_norm"]
    assert all(sum(line.primary for line in c.lines) == 1 for c in definition.claims)
    text = (ROOT / "claims.yaml").read_text()
    bad = tmp_path / "claims.yaml"
    bad.write_text(text.replace("primary: true}", "}", 1))
    with pytest.raises(ParamsError, match="exactly one line must be primary"):
        load_claims(bad)
    bad.write_text(text.replace("alpha: 0.05", "alpha: 0.05\n  beta: 1", 1))
    with pytest.raises(ParamsError, match="beta: unknown key"):
        load_claims(bad)
    bad.write_text(text.replace("metric: niqe", "metric: nique", 1))
    with pytest.raises(ParamsError, match="unknown metric 'nique'"):
        load_claims(bad)
    with pytest.raises(ParamsError, match=r"not in params\.yaml variants"):
        definition.check_variants({"full"}, "claims.yaml")
    with pytest.raises(ParamsError, match="claims definition not found"):
        load_claims(tmp_path / "none.yaml")


def test_synthetic_set_degradations():
    assert synthetic_degradation("val-set14", "second_order") == "second_order"
    assert synthetic_degradation("val-set14-first_order", "second_order") == "first_order"
    assert synthetic_degradation("val-set14-bsrgan", "second_order") == "bsrgan"
    assert synthetic_degradation("realsrset", "second_order") is None


def test_a_true_effect_is_supported_and_the_opposite_is_observed(definition):
    rng = np.random.default_rng(0)
    curves = simulated_logs(rng)
    effects = {("first_order", "psnr"): -2.0, ("no_sinc", "ringing"): 2.0}
    tidy = simulated_study(rng, effects=effects, bicubic_gap=4.0)
    lines = _lines(tidy, definition, curves)
    primary = _one(lines, "first_order", "net", "psnr", ("val-set14-bsrgan",))
    assert primary.line.primary and primary.verdict == SUPPORTED  # full better by 2 dB on the neutral set
    assert primary.test.effect == pytest.approx(2.0, abs=0.5) and primary.test.n_seeds == 5
    assert primary.test.n_images == 10 and primary.p_holm >= primary.test.p_value
    sinc = _one(lines, "no_sinc", "net", "ringing", ("val-set14",))
    assert sinc.verdict == OPPOSITE and sinc.test.effect < 0  # no_sinc rings *less* here: opposite direction
    real = _one(lines, "first_order", "net", "niqe")
    assert real.datasets == ("realesrgan-inputs", "realsrset") and real.test.n_images == 14  # real sets pooled


def test_power_rows_give_the_detectable_effect_of_each_paired_line(definition):
    rng = np.random.default_rng(1)
    tidy = simulated_study(rng, seed_sd=0.3, image_sd=0.4, resid_sd=0.2, bicubic_gap=4.0)
    lines = _lines(tidy, definition, simulated_logs(rng))
    rows = power_rows(lines, seed_counts=(5, 20))
    paired = [r for r in lines if r.test is not None and r.test.mean_squares is not None and r.test.n_seeds >= 2]
    assert len(rows) == len(paired) > 0
    row = next(
        r for r in rows if (r["variant"], r["metric"], r["datasets"]) == ("first_order", "psnr", "val-set14-bsrgan")
    )
    assert row["level"] == "Real-ESRNet" and (row["n_seeds"], row["n_images"]) == (5, 10)
    # A paired difference of two runs has seed sd sqrt(2) * 0.3 and image sd sqrt(2) * 0.4 in the simulation.
    assert 0.1 < row["seed_sd"] < 1.0 and 0.2 < row["image_sd"] < 1.2
    assert row["mde"] == pytest.approx(row["mde_5_seeds"]) and row["mde_20_seeds"] < row["mde_5_seeds"]


def test_constant_shift_known_answer(definition):
    rows = []
    for v in ("full", "no_sinc"):
        for s in range(5):
            for i in range(4):
                value = 10.0 + i + 0.5 * s + (0.25 if v == "no_sinc" else 0.0)
                rows.append((f"{v}-s{s}-net", "val-set14", f"im{i}", "ringing", value))
    tidy = _frame({k: [r[j] for r in rows] for j, k in enumerate(("model", "dataset", "image", "metric", "value"))})
    r = _one(_lines(tidy, definition), "no_sinc", "net", "ringing", ("val-set14",))
    assert r.test.effect == pytest.approx(0.25) and (r.test.ci_low, r.test.ci_high) == pytest.approx((0.25, 0.25))
    # no bicubic results: the undertraining rule cannot run, and says so
    assert r.verdict == SUPPORTED and r.p_holm == 0.0 and "undertraining not checked" in r.notes[0]


def test_few_seeds_are_preliminary_and_one_seed_is_not_measurable(definition):
    rng = np.random.default_rng(1)
    tidy = simulated_study(
        rng, n_seeds=3, effects={("first_order", "psnr"): -2.0}, seed_sd=0.1, image_sd=0.1, bicubic_gap=4.0
    )
    three = _lines(tidy, definition)
    assert (
        _one(three, "first_order", "net", "psnr", ("val-set14-bsrgan",)).verdict
        == f"preliminary (3 seeds): {SUPPORTED}"
    )
    one = _lines(simulated_study(rng, n_seeds=1), definition)
    r = _one(one, "first_order", "net", "psnr", ("val-set14-bsrgan",))
    assert r.verdict == NOT_MEASURABLE and r.reasons[0].startswith("1 seed")


def test_in_distribution_sets_are_not_measurable(definition):
    lines = _lines(simulated_study(np.random.default_rng(2)), definition, simulated_logs(np.random.default_rng(2)))
    fo = _one(lines, "first_order", "net", "psnr", ("val-set14-first_order",))
    assert fo.verdict == NOT_MEASURABLE and "training degradation of first_order" in fo.reasons[0]
    so = _one(lines, "first_order", "net", "psnr", ("val-set14",))  # neutral_sets_only: full's own set too
    assert so.verdict == NOT_MEASURABLE and "training degradation of full" in so.reasons[0]
    assert not math.isnan(so.test.effect)  # the number is still shown
    sinc = _one(lines, "no_sinc", "net", "ringing", ("val-set14",))  # the sinc claim is not about generalising
    assert sinc.verdict != NOT_MEASURABLE


def test_undertrained_real_esrnets_are_not_measurable(definition):
    tidy = simulated_study(np.random.default_rng(3))
    bic = tidy["model"] == "bicubic"
    tidy.loc[bic, "value"] += 5.0  # bicubic now 4 dB above every Real-ESRNet
    lines = _lines(tidy, definition)
    net = _one(lines, "first_order", "net", "niqe")
    assert net.verdict == NOT_MEASURABLE and net.reasons[0].startswith(
        "undertrained: Real-ESRNet does not beat bicubic"
    )
    assert _one(lines, "first_order", "gan", "niqe").verdict != NOT_MEASURABLE  # the rule is for Real-ESRNet lines


def test_a_discriminator_at_chance_is_not_measurable(definition):
    rng = np.random.default_rng(4)
    tidy = simulated_study(rng)
    chance = simulated_logs(rng, gap=0.02)
    lines = _lines(tidy, definition, chance)
    vgg = _one(lines, "vgg_disc", "gan", "niqe")
    assert vgg.verdict == NOT_MEASURABLE and "discriminator has not learned" in vgg.reasons[0]
    assert _one(lines, "first_order", "gan", "niqe").verdict != NOT_MEASURABLE  # not a discriminator claim
    learned = _lines(tidy, definition, simulated_logs(rng, gap=1.0))
    assert _one(learned, "vgg_disc", "gan", "niqe").verdict != NOT_MEASURABLE
    no_logs = _one(_lines(tidy, definition, None), "vgg_disc", "gan", "niqe")
    assert no_logs.verdict != NOT_MEASURABLE and "discriminator not checked" in no_logs.notes[0]
    # the gap is the mean over the last quarter of the logged points
    c = [
        Curve("full-s0", "gan", "train/out_d_real", (1, 2, 3, 4, 5, 6, 7, 8), (9, 9, 9, 9, 9, 9, 1.0, 2.0)),
        Curve("full-s0", "gan", "train/out_d_fake", (1, 2, 3, 4, 5, 6, 7, 8), (0,) * 8),
    ]
    assert logit_gap(c, VARIANTS, "full", 0.25) == {0: pytest.approx(1.5)}


def test_instability_line_needs_enough_logged_points(definition):
    rng = np.random.default_rng(5)
    tidy = simulated_study(rng)
    wobbly = simulated_logs(rng, wobble={"unet_no_sn": 3.0})
    r = _one(_lines(tidy, definition, wobbly), "unet_no_sn", "gan", "train/l_g_gan", statistic="instability")
    assert r.line.primary and r.verdict == SUPPORTED and r.test.method == "per-seed t" and r.test.df == 4
    short = simulated_logs(rng, points=4)  # 2 points in the second half, as the committed study
    r = _one(_lines(tidy, definition, short), "unet_no_sn", "gan", "train/l_g_gan", statistic="instability")
    assert r.verdict == NOT_MEASURABLE and r.reasons[0].startswith("too few logged points")
    r = _one(_lines(tidy, definition, None), "unet_no_sn", "gan", "train/l_g_gan", statistic="instability")
    assert r.verdict == NOT_MEASURABLE and r.reasons[0].startswith("not run")


def test_spread_line_is_an_f_test(definition):
    rng = np.random.default_rng(6)
    tidy = simulated_study(rng)
    r = _one(_lines(tidy, definition, simulated_logs(rng)), "unet_no_sn", "gan", "niqe", statistic="spread")
    assert r.test.method == "F" and r.test.null == 1.0 and r.test.ci_low < r.test.effect < r.test.ci_high


def test_holm_across_primaries_and_within_claims(definition):
    rng = np.random.default_rng(7)
    lines = _lines(simulated_study(rng), definition, simulated_logs(rng))
    primaries = [r for r in lines if r.line.primary]
    assert len(primaries) == 4 and all(r.measurable for r in primaries)
    p = sorted(r.test.p_value for r in primaries)
    assert min(r.p_holm for r in primaries) == pytest.approx(min(1.0, 4 * p[0]))
    secondary = [r for r in lines if r.claim.id == "sinc" and not r.line.primary and r.measurable]
    assert min(r.p_holm for r in secondary) == pytest.approx(
        min(1.0, len(secondary) * min(r.test.p_value for r in secondary))
    )
    unmeasured = [r for r in lines if not r.measurable]
    assert unmeasured and all(math.isnan(r.p_holm) for r in unmeasured)


def test_missing_variants_are_not_run_and_csv_and_table(definition):
    tidy = simulated_study(np.random.default_rng(8))
    tidy = tidy[~tidy["model"].str.startswith("vgg_disc")]
    lines = _lines(tidy, definition)
    vgg = [r for r in lines if r.line.variant == "vgg_disc"]
    assert vgg and all(r.verdict == NOT_MEASURABLE and r.reasons[0].startswith("not run") for r in vgg)
    frame = claims_frame(lines)
    assert list(frame.columns) == [
        "claim", "primary", "variant", "level", "datasets", "metric", "n_seeds", "n_images", "effect",
        "ci_low", "ci_high", "p_value", "p_holm", "verdict", "reason",
    ]  # fmt: skip
    assert len(frame) == len(lines) and frame["primary"].sum() == 4
    assert frame.loc[frame["variant"] == "vgg_disc", "effect"].isna().all()
    table = claims_table(lines, "full")
    assert len(table.rows) == len(lines) and all(len(row) == len(table.columns) for row in table.rows)
    assert any("psnr (dB) ↑ on val-set14-bsrgan" in row[3] for row in table.rows)


def test_a_new_ablation_is_a_definition_edit(definition):
    extra = ClaimDef(
        "new", "a new claim", (LineDef("bsrgan_degradation", "net", "psnr", "synthetic", "first_order", primary=True),)
    )
    defn = replace(definition, claims=(*definition.claims, extra))
    rows = simulated_study(np.random.default_rng(9))
    copy = rows[rows["model"].str.startswith("full")].copy()
    copy["model"] = copy["model"].str.replace("full", "bsrgan_degradation")
    lines = _lines(pd.concat([rows, copy]), defn)
    r = _one(lines, "bsrgan_degradation", "net", "psnr")
    assert r.test.effect == pytest.approx(0.0) and r.verdict == NOT_SUPPORTED


def test_null_studies_give_a_decisive_primary_verdict_at_most_6_percent_of_the_time(definition):
    """The Done-when criterion: simulated null results (every variant, 5 seeds, real and synthetic sets,
    logs where the discriminators learn and the instability sd has enough points), repeated."""
    rng = np.random.default_rng(2026)
    # Secondary lines have their own Holm family and cannot change a primary verdict: leave them out here.
    primaries_only = replace(
        definition, claims=tuple(replace(c, lines=tuple(x for x in c.lines if x.primary)) for c in definition.claims)
    )
    decisive = total = 0
    for _ in range(40):
        lines = _lines(simulated_study(rng, seed_sd=rng.uniform(0.1, 0.6)), primaries_only, simulated_logs(rng))
        primaries = [r for r in lines if r.line.primary]
        assert all(r.measurable for r in primaries)  # the simulation exercises the tests, not the rules
        decisive += sum(r.verdict not in (NOT_MEASURABLE, NOT_SUPPORTED) for r in primaries)
        total += len(primaries)
    assert total == 160 and decisive / total <= 0.06


def test_parse_run_names_and_seed_tables():
    assert parse_run("full-s2-net", VARIANTS) == ("full", "net", 2)
    assert parse_run("first_order-s0", VARIANTS) == ("first_order", "gan", 0)
    assert parse_run("no_sinc", VARIANTS) == ("no_sinc", "gan", -1)
    assert parse_run("realesrgan_x4plus", VARIANTS) is None
    summary = seed_summary(runs(simulated_study(np.random.default_rng(10), n_seeds=3), VARIANTS))
    row = summary[(summary.variant == "full") & (summary.phase == "net") & (summary.metric == "psnr")].iloc[0]
    assert row.seeds == 3 and row.images == 10
    tables = dict(seed_tables(summary, VARIANTS))
    assert tables["val-set14"].rows[0][:2] == ("`full`", "Real-ESRNet")


def test_claims_command_bad_inputs(tmp_path, capsys):
    from replication.cli import main

    args = ["claims", "--params", str(ROOT / "params.yaml"), "--claims", str(ROOT / "claims.yaml")]
    assert main([*args, "--results", str(tmp_path / "none"), "--out", str(tmp_path / "c.csv")]) == 1
    assert "results directory not found" in capsys.readouterr().err
    (tmp_path / "c.csv").write_text("x\n")
    (tmp_path / "res").mkdir()
    assert main([*args, "--results", str(tmp_path / "res"), "--out", str(tmp_path / "c.csv")]) == 2
    assert "file exists" in capsys.readouterr().err
    assert main([*args, "--results", str(tmp_path), "--out", str(tmp_path / "in.csv")]) == 2  # inside the input
    assert "refusing to write there" in capsys.readouterr().err
    bad = tmp_path / "claims.yaml"
    bad.write_text("reference: full\n")
    bad_args = ["claims", "--params", str(ROOT / "params.yaml"), "--claims", str(bad)]
    code = main([*bad_args, "--results", str(tmp_path / "res"), "--out", str(tmp_path / "d.csv")])
    assert code == 1 and "rules: missing key" in capsys.readouterr().err


def test_committed_study_verdicts_are_recomputed_byte_for_byte(tmp_path, capsys):
    # Every verdict of the committed study follows from the repository alone: the per-image metrics
    # (tidy.csv.gz) and training logs (curves.tsv) under reports/study/ give claims.csv, to the byte.
    from replication.cli import main

    study = ROOT / "reports" / "study"
    out = tmp_path / "claims.csv"
    args = [
        "claims",
        "--params",
        str(ROOT / "params.yaml"),
        "--profile",
        "study",
        "--claims",
        str(ROOT / "claims.yaml"),
    ]
    args += ["--results", str(study / "tidy.csv.gz"), "--runs", str(study / "curves.tsv"), "--out", str(out), "--power"]
    assert main(args) == 0
    assert out.read_bytes() == (study / "claims.csv").read_bytes()
    printed = capsys.readouterr().out
    assert "| claim | variant | level |" in printed and "MDE as run" in printed
