"""Claim lines and seed summaries from tidy metrics of several seeds and phases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from replication.report.claims import CLAIMS, claims_table, evaluate_claims
from replication.report.seeds import parse_run, runs, seed_summary, seed_tables

VARIANTS = ("full", "first_order", "no_sinc", "vgg_disc", "unet_no_sn")
SPEC = {"psnr": False, "niqe": True, "ringing": True}


def _rows(model: str, dataset: str, metric: str, values) -> list[dict]:
    return [
        dict(
            model=model,
            source="retrained-study",
            profile="study",
            dataset=dataset,
            subset="all",
            image=f"im{i}.png",
            metric=metric,
            value=float(v),
            lower_better=SPEC[metric],
        )
        for i, v in enumerate(values)
    ]


def _tidy(seeds=(0, 1, 2), shift=1.0) -> pd.DataFrame:
    """full and first_order at both phases: first_order is `shift` dB worse in PSNR and `shift` worse in NIQE."""
    rng = np.random.default_rng(0)
    base_psnr = rng.normal(25, 2, size=6)
    base_niqe = rng.normal(5, 1, size=5)
    rows = []
    for s in seeds:
        offset = 0.3 * s  # training noise: the same for both variants (same seed)
        for suffix in ("-net", ""):
            rows += _rows(f"full-s{s}{suffix}", "val-set14", "psnr", base_psnr + offset)
            rows += _rows(f"first_order-s{s}{suffix}", "val-set14", "psnr", base_psnr + offset - shift)
            for d in ("realsrset", "realesrgan-inputs"):
                rows += _rows(f"full-s{s}{suffix}", d, "niqe", base_niqe + offset)
                rows += _rows(f"first_order-s{s}{suffix}", d, "niqe", base_niqe + offset + shift)
    rows += _rows("realesrgan_x4plus", "realsrset", "niqe", base_niqe)  # a baseline: not a run
    return pd.DataFrame(rows)


def _by_key(results):
    return {
        (r.evidence.variant, r.evidence.phase, r.evidence.metric, r.evidence.statistic, r.datasets): r for r in results
    }


def test_parse_run_names():
    assert parse_run("full-s2-net", VARIANTS) == ("full", "net", 2)
    assert parse_run("first_order-s0", VARIANTS) == ("first_order", "gan", 0)
    assert parse_run("no_sinc", VARIANTS) == ("no_sinc", "gan", -1)  # single unnamed seed
    assert parse_run("no_sinc-net", VARIANTS) == ("no_sinc", "net", -1)
    assert parse_run("realesrgan_x4plus", VARIANTS) is None
    assert parse_run("full-s1-gan", VARIANTS) is None  # not a name the pipeline writes


def test_a_constant_shift_is_reproduced_with_a_zero_width_interval():
    res = _by_key(evaluate_claims(runs(_tidy(), VARIANTS), n_boot=300, seed=0))
    psnr = res[("first_order", "net", "psnr", "paired", ("val-set14",))]
    assert psnr.estimate.effect == pytest.approx(1.0) and psnr.verdict == "reproduced"
    assert psnr.estimate.ci_low == pytest.approx(1.0) and psnr.estimate.ci_high == pytest.approx(1.0)
    assert (psnr.estimate.n_seeds, psnr.estimate.n_images) == (3, 6)
    niqe = res[("first_order", "net", "niqe", "paired", ("realesrgan-inputs", "realsrset"))]
    assert niqe.estimate.effect == pytest.approx(1.0) and niqe.estimate.n_images == 10  # both real sets pooled
    assert res[("first_order", "gan", "niqe", "paired", ("realesrgan-inputs", "realsrset"))].verdict == "reproduced"


def test_the_opposite_direction_is_contradicted_and_one_seed_is_inconclusive():
    res = _by_key(evaluate_claims(runs(_tidy(shift=-0.5), VARIANTS), n_boot=300, seed=0))
    assert res[("first_order", "net", "psnr", "paired", ("val-set14",))].verdict == "contradicted"
    res1 = _by_key(evaluate_claims(runs(_tidy(seeds=(0,)), VARIANTS), n_boot=300, seed=0))
    assert (
        res1[("first_order", "net", "psnr", "paired", ("val-set14",))].verdict == "inconclusive at this scale (1 seed)"
    )


def test_missing_variants_give_not_run_lines_and_every_claim_has_a_line():
    results = evaluate_claims(runs(_tidy(), VARIANTS), n_boot=100, seed=0)
    claims = {r.evidence.claim for r in results}
    assert claims == {ev.claim for ev in CLAIMS}
    vgg = [r for r in results if r.evidence.variant == "vgg_disc"]
    assert vgg and all(r.estimate is None and r.verdict.startswith("not run") for r in vgg)
    table = claims_table(results)
    assert len(table.rows) == len(results) and all(len(row) == len(table.columns) for row in table.rows)
    assert any("psnr (dB) ↑ on val-set14" in row[3] for row in table.rows)


def test_seed_spread_claim():
    rows = []
    for s in range(4):
        rows += _rows(f"full-s{s}", "realsrset", "niqe", [5.0 + 0.01 * s, 5.2, 4.9])
        rows += _rows(f"unet_no_sn-s{s}", "realsrset", "niqe", [5.0 + 2.0 * (-1) ** s, 5.2, 4.9])
    res = _by_key(evaluate_claims(runs(pd.DataFrame(rows), VARIANTS), n_boot=500, seed=0))
    spread = res[("unet_no_sn", "gan", "niqe", "spread", ("realsrset",))]
    assert spread.estimate.effect > 0.5 and spread.verdict in {"reproduced", "inconclusive at this scale"}


def test_claims_are_deterministic():
    r = runs(_tidy(shift=0.2), VARIANTS)
    assert claims_table(evaluate_claims(r, 200, 7)) == claims_table(evaluate_claims(r, 200, 7))


def test_seed_summary_and_tables():
    summary = seed_summary(runs(_tidy(), VARIANTS))
    row = summary[(summary.variant == "full") & (summary.phase == "net") & (summary.metric == "psnr")].iloc[0]
    assert row.seeds == 3 and row.images == 6
    assert row.seed_sd == pytest.approx(0.3)  # per-seed means 0, 0.3, 0.6 apart
    tables = dict(seed_tables(summary, VARIANTS))
    assert tables["val-set14"].columns == ("Variant", "Level", "psnr (dB) ↑")
    assert tables["val-set14"].rows[0][:2] == ("`full`", "Real-ESRNet")
    assert "± 0.300 (3 seeds)" in tables["val-set14"].rows[0][2]


def test_undefined_values_drop_the_image_and_unmatched_seeds_are_left_out():
    tidy = _tidy()
    nan_row = (tidy.model == "full-s1-net") & (tidy.dataset == "val-set14") & (tidy.image == "im0.png")
    tidy.loc[nan_row, "value"] = float("nan")
    extra_seed = tidy[tidy.model == "first_order-s0-net"].assign(model="first_order-s7-net")  # full has no s7
    res = _by_key(evaluate_claims(runs(pd.concat([tidy, extra_seed]), VARIANTS), n_boot=200, seed=0))
    psnr = res[("first_order", "net", "psnr", "paired", ("val-set14",))]
    assert (psnr.estimate.n_seeds, psnr.estimate.n_images) == (3, 5)
    assert psnr.estimate.effect == pytest.approx(1.0)


def _curve(run: str, values, phase: str = "gan"):
    from replication.report.curves import Curve

    return Curve(run, phase, "train/l_g_gan", tuple(range(len(values))), tuple(values))


def test_instability_line_from_training_curves():
    from replication.report.claims import claims_blocks, instability_claim
    from replication.report.instability import instability_by_seed, second_half_sd

    assert second_half_sd((100.0, -50.0, 1.0, 3.0)) == pytest.approx(np.std([1.0, 3.0], ddof=1))  # first half dropped
    wobble = [1.0, 1.0, 1.0, 1.0, 0.0, 2.0, 0.0, 2.0]  # second half sd 1.155
    calm = [1.0, 1.0, 1.0, 1.0, 0.9, 1.1, 0.9, 1.1]  # second half sd 0.1155
    curves = [_curve(f"unet_no_sn-s{s}", wobble) for s in range(3)] + [_curve(f"full-s{s}", calm) for s in range(3)]
    curves.append(_curve("full-s0", wobble, phase="net"))  # other phase: ignored
    by_seed = instability_by_seed(curves, VARIANTS, "full")
    assert list(by_seed) == [0, 1, 2] and all(v == pytest.approx(np.std(calm[4:], ddof=1)) for v in by_seed.values())
    res = instability_claim(curves, VARIANTS, 200, np.random.default_rng(0))
    assert res.estimate.effect == pytest.approx(np.std(wobble[4:], ddof=1) - np.std(calm[4:], ddof=1))
    assert res.estimate.n_seeds == 3 and res.verdict == "reproduced"
    one = instability_claim(curves[:1] + curves[3:4], VARIANTS, 200, np.random.default_rng(0))
    assert one.verdict == "inconclusive at this scale (1 seed)"
    none = instability_claim([], VARIANTS, 200, np.random.default_rng(0))
    assert none.estimate is None and none.verdict.startswith("not run")
    table = next(b for b in claims_blocks(_tidy(), VARIANTS, 100, 0, curves) if hasattr(b, "rows"))
    assert any("second half of each GAN run" in row[3] and "reproduced" in row[-1] for row in table.rows)


def test_claims_csv_rows_carry_the_estimates_and_the_verdicts():
    from replication.report.claims import CSV_COLUMNS, claims_frame

    results = evaluate_claims(runs(_tidy(), VARIANTS), n_boot=100, seed=0)
    frame = claims_frame(results)
    assert tuple(frame.columns) == CSV_COLUMNS and len(frame) == len(results)
    psnr = frame[(frame["variant"] == "first_order") & (frame["level"] == "Real-ESRNet") & (frame["metric"] == "psnr")]
    row = psnr.iloc[0]
    assert row["effect"] == pytest.approx(1.0) and row["ci_low"] == pytest.approx(1.0) and row["ci_level"] == 0.95
    assert (row["n_seeds"], row["n_images"], row["datasets"], row["verdict"]) == (3, 6, "val-set14", "reproduced")
    assert not row["lower_better"] and row["reference"] == "full"
    vgg = frame[frame["variant"] == "vgg_disc"]
    assert vgg["effect"].isna().all() and vgg["n_seeds"].isna().all()
    assert vgg["verdict"].str.startswith("not run").all()
