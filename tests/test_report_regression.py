"""The metric regression gate (`replication check-metrics`) on small fake tidy tables."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from replication.artifacts.metrics_table import TIDY_COLUMNS, read_tidy
from replication.cli import main
from replication.errors import UserError
from replication.report.regression import Tolerance, compare, failed, load_expected

NIQE = {"realsrset": {"a.png": 6.0, "b.png": 5.0}, "inputs": {"c.png": 4.0}}


def write_tidy(
    path: Path,
    model: str,
    source: str,
    values: dict[str, dict[str, float]],
    metric: str = "niqe",
    lower_better: bool = True,
    profile: str = "smoke",
    subset: str = "first 3 of 20",
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(TIDY_COLUMNS)
        for dataset, images in values.items():
            for image, value in images.items():
                w.writerow([model, source, profile, dataset, subset, image, metric, value, str(lower_better).lower()])
    return path


@pytest.fixture()
def run_dir(tmp_path) -> Path:
    root = tmp_path / "results"
    write_tidy(root / "bicubic" / "metrics.csv", "bicubic", "bicubic", NIQE)
    write_tidy(
        root / "x4plus" / "metrics.csv",
        "realesrgan_x4plus",
        "official-fp16-rounded",
        {"realsrset": {"a.png": 4.0, "b.png": 3.0}},
    )
    write_tidy(
        root / "x4plus" / "psnr.csv",
        "realesrgan_x4plus",
        "official-fp16-rounded",
        {"val": {"0.png": 25.0, "1.png": 27.0}},
        metric="psnr",
        lower_better=False,
    )
    return root


def _write_expected(tmp_path, run_dir) -> Path:
    expected = tmp_path / "expected.json"
    assert (
        main(
            [
                "check-metrics",
                "--expected",
                str(expected),
                "--results",
                str(run_dir),
                "--write",
                "--tolerance",
                "0.01",
                "--rel-tolerance",
                "0",
            ]
        )
        == 0
    )
    return expected


def test_written_expected_file_holds_the_means(tmp_path, run_dir):
    expected = load_expected(_write_expected(tmp_path, run_dir))
    assert expected.profile == "smoke" and expected.tolerance == Tolerance(0.01, 0.0)
    e = expected.entries.set_index(["model", "dataset", "metric"])
    assert e.loc[("bicubic", "realsrset", "niqe"), "mean"] == pytest.approx(5.5)
    assert e.loc[("bicubic", "realsrset", "niqe"), "n"] == 2
    assert e.loc[("realesrgan_x4plus", "val", "psnr"), "mean"] == pytest.approx(26.0)
    assert len(expected.entries) == 4


def test_identical_run_passes(tmp_path, run_dir, capsys):
    expected = _write_expected(tmp_path, run_dir)
    capsys.readouterr()
    assert main(["check-metrics", "--expected", str(expected), "--results", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "check-metrics: ok (4 ok)" in out and "(nothing moved)" in out


def test_worse_niqe_fails_and_is_printed(tmp_path, run_dir, capsys):
    expected = _write_expected(tmp_path, run_dir)
    # NIQE is lower-better: +0.5 on one image moves the mean by +0.25 > 0.01.
    write_tidy(
        run_dir / "bicubic" / "metrics.csv",
        "bicubic",
        "bicubic",
        {"realsrset": {"a.png": 6.5, "b.png": 5.0}, "inputs": {"c.png": 4.0}},
    )
    capsys.readouterr()
    assert main(["check-metrics", "--expected", str(expected), "--results", str(run_dir)]) == 1
    out = capsys.readouterr().out
    assert "worse" in out and "+0.25" in out and "FAILED" in out
    # a wide enough tolerance from the command line lets it pass
    assert main(["check-metrics", "--expected", str(expected), "--results", str(run_dir), "--tolerance", "0.3"]) == 0


def test_direction_of_higher_better_metric(tmp_path, run_dir):
    expected = load_expected(_write_expected(tmp_path, run_dir))
    write_tidy(
        run_dir / "x4plus" / "psnr.csv",
        "realesrgan_x4plus",
        "official-fp16-rounded",
        {"val": {"0.png": 26.0, "1.png": 27.0}},
        metric="psnr",
        lower_better=False,
    )
    table = compare(expected, read_tidy([run_dir])).set_index(["model", "metric"])
    assert table.loc[("realesrgan_x4plus", "psnr"), "status"] == "better"
    assert failed(table.reset_index(), "any") and not failed(table.reset_index(), "worse")


def test_within_tolerance_is_ok(tmp_path, run_dir):
    expected = load_expected(_write_expected(tmp_path, run_dir))
    write_tidy(
        run_dir / "bicubic" / "metrics.csv",
        "bicubic",
        "bicubic",
        {"realsrset": {"a.png": 6.009, "b.png": 5.0}, "inputs": {"c.png": 4.0}},
    )
    table = compare(expected, read_tidy([run_dir]))
    assert set(table["status"]) == {"ok"} and not failed(table)


def test_missing_result_and_changed_count_fail(tmp_path, run_dir):
    expected = load_expected(_write_expected(tmp_path, run_dir))
    (run_dir / "x4plus" / "psnr.csv").unlink()
    write_tidy(
        run_dir / "bicubic" / "metrics.csv",
        "bicubic",
        "bicubic",
        {"realsrset": {"a.png": 5.5, "b.png": 5.5, "z.png": 5.5}, "inputs": {"c.png": 4.0}},
    )
    table = compare(expected, read_tidy([run_dir])).set_index(["model", "dataset", "metric"])
    assert table.loc[("realesrgan_x4plus", "val", "psnr"), "status"] == "missing"
    assert table.loc[("bicubic", "realsrset", "niqe"), "status"] == "count"
    assert failed(table.reset_index(), "worse")


def test_new_results_are_listed_but_do_not_fail(tmp_path, run_dir):
    expected = load_expected(_write_expected(tmp_path, run_dir))
    write_tidy(run_dir / "full" / "metrics.csv", "full", "retrained-smoke", {"realsrset": {"a.png": 7.0}})
    table = compare(expected, read_tidy([run_dir]))
    assert list(table.loc[table["status"] == "new", "model"]) == ["full"]
    assert not failed(table)


def test_nan_becoming_a_number_is_a_change(tmp_path, run_dir):
    write_tidy(run_dir / "bicubic" / "metrics.csv", "bicubic", "bicubic", {"tiny": {"t.png": float("nan")}})
    expected = load_expected(_write_expected(tmp_path, run_dir))
    assert expected.entries.set_index("dataset").loc["tiny", "n"] == 0
    write_tidy(run_dir / "bicubic" / "metrics.csv", "bicubic", "bicubic", {"tiny": {"t.png": 3.0}})
    table = compare(expected, read_tidy([run_dir])).set_index("dataset")
    assert table.loc["tiny", "status"] == "worse"


def test_sources_filter_when_writing(tmp_path, run_dir):
    expected = tmp_path / "e.json"
    assert (
        main(
            ["check-metrics", "--expected", str(expected), "--results", str(run_dir), "--write", "--sources", "bicubic"]
        )
        == 0
    )
    assert set(load_expected(expected).entries["model"]) == {"bicubic"}


def test_profile_mismatch_is_a_user_error(tmp_path, run_dir):
    expected = load_expected(_write_expected(tmp_path, run_dir))
    other = tmp_path / "mini"
    write_tidy(other / "m.csv", "bicubic", "bicubic", NIQE, profile="mini")
    with pytest.raises(UserError, match="profile"):
        compare(expected, read_tidy([other]))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "invalid JSON"),
        ('{"schema": 1, "profile": "smoke", "tolerance": {"abs": 0.1}, "entries": []}', "tolerance"),
        (
            '{"schema": 1, "profile": "smoke", "tolerance": {"abs": 0, "rel": 0}, "entries": [], "extra": 1}',
            "extra: unknown key",
        ),
        (
            '{"schema": 1, "profile": "smoke", "tolerance": {"abs": 0, "rel": 0}, "entries": [{"model": "m"}]}',
            r"entries\[0\]",
        ),
    ],
)
def test_bad_expected_file_names_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        load_expected(path)


def test_bad_tidy_csv_names_the_file(tmp_path, capsys):
    bad = tmp_path / "r" / "m.csv"
    bad.parent.mkdir()
    bad.write_text("model,value\nx,1\n")
    expected = tmp_path / "e.json"
    expected.write_text('{"schema": 1, "profile": "smoke", "tolerance": {"abs": 0, "rel": 0}, "entries": []}')
    assert main(["check-metrics", "--expected", str(expected), "--results", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "missing column" in err


def test_committed_smoke_expectations_are_valid():
    path = Path(__file__).parent / "expected" / "smoke_metrics.json"
    if not path.exists():
        pytest.skip("tests/expected/smoke_metrics.json not written yet (needs a smoke run)")
    expected = load_expected(path)
    assert expected.profile == "smoke" and len(expected.entries) > 0
    assert json.loads(path.read_text())["note"]


def test_the_gate_checks_the_means_the_report_prints(tmp_path, run_dir):
    """One summarise: the gate's `got` and `n_got` are the summary's `mean` and `n`, to the bit."""
    from replication.artifacts.metrics_table import summarise

    tidy = read_tidy([run_dir])
    expected = load_expected(_write_expected(tmp_path, run_dir))
    table = compare(expected, tidy).set_index(["model", "dataset", "metric"])
    summary = summarise(tidy, n_samples=50, seed=0).set_index(["model", "dataset", "metric"])
    assert len(table) == len(summary) == 4
    for key, row in summary.iterrows():
        assert table.loc[key, "got"] == row["mean"] and table.loc[key, "n_got"] == row["n"]
