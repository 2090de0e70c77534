"""The report: paper table data, curves, grids, Markdown and self-contained HTML, on fake inputs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from replication.artifacts.metrics_table import SUMMARY_COLUMNS
from replication.imageio import write_image
from replication.params import load_params
from replication.report import paper_table
from replication.report.curves import find_curves, plot_phase, read_tsv
from replication.report.document import to_html, to_markdown, write_markdown
from replication.report.grids import Grid, grid_layout, grid_rows, pick_crop, render_grid
from replication.report.render import ReportInputs, build_report
from replication.report.tables import metric_tables, table1

ROOT = Path(__file__).resolve().parents[1]


def test_paper_table_is_complete_and_as_printed():
    labels = [m.label for m in paper_table.METHODS]
    assert len(paper_table.TEST_SETS) == 7 and len(labels) == 8
    for ts in paper_table.TEST_SETS:
        assert list(paper_table.VALUES[ts.label]) == labels
    # spot checks against the paper's Table 1 (bold = best in the paper)
    assert paper_table.paper_value("realsr-v3-canon", "Real-ESRGAN+") == 4.5314
    assert paper_table.paper_value("drealsr", "Real-ESRGAN") == 4.9796
    assert paper_table.paper_value("ade20k-val", "RealSR") == 3.4102
    assert paper_table.paper_value("realsrset", "Bicubic") is None  # RealSRSet is not in Table 1
    assert paper_table.method_of("realesrgan_x4plus").label == "Real-ESRGAN+"
    assert paper_table.method_of("first_order") is None
    assert len(set(paper_table.paper_models())) == len(paper_table.paper_models())


def fake_summary(profile: str = "smoke") -> pd.DataFrame:
    rows = []
    for model, source, niqe in [
        ("bicubic", "bicubic", 7.1),
        ("realesrgan_x4plus", "official-fp16-rounded", 4.2),
        ("full-s0", f"retrained-{profile}", 6.6),
        ("full-s0-net", f"retrained-{profile}", 6.8),
        ("real_esrgan-s0", f"retrained-{profile}", 6.7),
        ("no_sinc-s0", f"retrained-{profile}", 6.9),
    ]:
        for dataset in ("realsrset", "realesrgan-inputs"):
            rows.append(
                (
                    model,
                    source,
                    profile,
                    dataset,
                    "first 3 of 20",
                    "niqe",
                    True,
                    3,
                    0,
                    niqe,
                    0.2,
                    niqe - 0.3,
                    niqe + 0.3,
                )
            )
            rows.append(
                (model, source, profile, dataset, "first 3 of 20", "brisque", True, 3, 0, 30.0, 4.0, 25.0, 35.0)
            )
        rows.append((model, source, profile, "val-set14", "full", "psnr", False, 6, 0, 22.5, 1.0, 21.0, 24.0))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def test_table1_puts_paper_and_ours_side_by_side():
    params = load_params(ROOT / "params.yaml")
    table, notes = table1(fake_summary(), params.active.evaluate.test_sets, {"dan": "needs the DAN architecture"})
    by_model = {row[1]: row for row in table.rows}
    canon = table.columns.index("RealSR-Canon: NIQE ↓")
    realsrset = table.columns.index("realsrset: NIQE ↓")
    assert by_model["`realesrgan_x4plus`"][canon] == "4.5314 / —"  # the set is not in the smoke profile
    assert by_model["`realesrgan_x4plus`"][realsrset] == "— / 4.2000"  # not in the paper, measured here
    assert by_model["`realesrgan_x4plus`"][2] == "official-fp16-rounded"
    # the Note column holds a footnote mark; the notes say why a cell has no comparable value
    dan_mark = by_model["`dan`"][-1]
    assert re.fullmatch(r"\[\d+\]", dan_mark)
    assert f"{dan_mark} `dan` not available: needs the DAN architecture" in notes
    assert notes[0] == "No cell holds both a paper value and ours, for the reasons below."
    assert any(n.startswith("Paper values only (RealSR-Canon, ") and "evaluate.test_sets" in n for n in notes)
    assert "Ours only (realsrset, realesrgan-inputs): test sets the paper's Table 1 did not use." in notes
    # full follows the sharpened-GT recipe of the released x4plus (Real-ESRGAN+); real_esrgan stands in for
    # the non-sharpened column. Variants resolve to their Real-ESRGAN models (not the -net ones).
    assert by_model["`full` (seed 0)"][0] == "Real-ESRGAN+"
    assert by_model["`real_esrgan` (seed 0)"][0] == "Real-ESRGAN"
    assert not any("net" in row[1] for row in table.rows)


def test_table1_has_one_row_per_variant_with_the_seed_spread():
    summary = fake_summary()
    extra = summary[summary["model"] == "full-s0"].copy()
    for seed, shift in ((1, 0.2), (2, 0.4)):
        part = extra.copy()
        part["model"] = f"full-s{seed}"
        part["mean"] = part["mean"] + shift
        summary = pd.concat([summary, part], ignore_index=True)
    table, _ = table1(summary, ("realsrset", "realesrgan-inputs"), {})
    full = [row for row in table.rows if row[1].startswith("`full`")]
    assert len(full) == 1 and full[0][1] == "`full` (seeds 0, 1, 2)"
    # per-seed means 6.6, 6.8, 7.0: mean 6.8, sample sd 0.2
    assert full[0][table.columns.index("realsrset: NIQE ↓")] == "— / 6.8000 ± 0.2000"


def test_metric_tables_have_cis_and_directions():
    order = ["full-s0-net", "full-s0", "real_esrgan-s0", "no_sinc-s0", "bicubic", "realesrgan_x4plus"]
    tables = dict(metric_tables(fake_summary(), order))
    assert set(tables) == {"realsrset", "realesrgan-inputs", "val-set14"}
    t = tables["val-set14"]
    assert t.columns == ("Model", "Source", "psnr (dB) ↑")
    assert [r[0] for r in t.rows] == [f"`{m}`" for m in order]
    assert t.rows[1][2] == "22.500 [21.000, 24.000]"
    assert tables["realsrset"].columns == ("Model", "Source", "brisque (score) ↓", "niqe (score) ↓")


def _write_tsv(path: Path, name: str, rows: list[tuple[int, float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"step\t{name}\n" + "".join(f"{s}\t{v}\n" for s, v in rows))


def test_curves_are_found_and_plotted(tmp_path):
    runs = tmp_path / "runs"
    for variant in ("full", "no_sinc"):
        _write_tsv(runs / variant / "net" / "dvclive/plots/metrics/train/l_pix.tsv", "l_pix", [(10, 0.3), (0, 0.5)])
        _write_tsv(runs / variant / "gan" / "dvclive/plots/metrics/train/l_g_gan.tsv", "l_g_gan", [(0, 1.0)])
    steps, values = read_tsv(runs / "full/net/dvclive/plots/metrics/train/l_pix.tsv")
    assert steps == (0, 10) and values == (0.5, 0.3)  # sorted by step
    curves = find_curves(runs)
    assert {(c.variant, c.phase, c.name) for c in curves} == {
        ("full", "net", "train/l_pix"),
        ("no_sinc", "net", "train/l_pix"),
        ("full", "gan", "train/l_g_gan"),
        ("no_sinc", "gan", "train/l_g_gan"),
    }
    png = plot_phase(curves, "net", "net")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_phase(curves, "nonexistent", "x") is None
    assert find_curves(tmp_path / "missing") == []


def test_pick_crop_finds_the_textured_window():
    img = torch.full((1, 3, 40, 50), 0.5)
    gen = torch.Generator().manual_seed(0)
    img[..., 20:30, 31:41] = torch.rand(1, 3, 10, 10, generator=gen)
    top, left, side = pick_crop(img, 10)
    assert (top, left, side) == (20, 31, 10)
    assert pick_crop(img, 100)[2] == 40  # clipped to the image


def _fake_outputs(tmp_path: Path) -> tuple[list[Path], dict[str, Path]]:
    gen = torch.Generator().manual_seed(1)
    lr_dir = tmp_path / "lr"
    lrs = []
    for name in ("b", "a", "c"):
        lrs.append(write_image(lr_dir / f"{name}.png", torch.rand(1, 3, 16, 20, generator=gen)))
    outs = {}
    for model in ("bicubic", "full"):
        d = tmp_path / model
        for name in ("a", "b"):  # "c" missing for every model -> not in the grid
            write_image(d / f"{name}.png", torch.rand(1, 3, 64, 80, generator=gen))
        outs[model] = d
    return lrs, outs


def test_grid_rows_and_render(tmp_path):
    lrs, outs = _fake_outputs(tmp_path)
    rows = grid_rows(lrs, outs, max_images=5)
    assert [r[0] for r in rows] == ["a.png", "b.png"]
    assert grid_rows(lrs, outs, max_images=1)[0][0] == "a.png"
    png = render_grid(rows, crop=32, title="t")
    assert png[:4] == b"\x89PNG"


def test_grids_wrap_instead_of_one_long_strip(tmp_path):
    assert grid_layout(13) == (3, 6)  # LR + 12 models: three lines of at most six panels
    assert grid_layout(3) == (1, 3)
    lrs, outs = _fake_outputs(tmp_path)
    many = {f"m{i:02d}": outs["full"] for i in range(12)}
    rows = grid_rows(lrs, many, max_images=2)
    import io

    from PIL import Image as PILImage

    wide = PILImage.open(io.BytesIO(render_grid(rows, crop=32, title="t")))
    assert wide.width <= 1.9 * 100 * 6 + 2 and wide.height > wide.width  # 6 columns, 2 images x 3 lines


def test_grid_rejects_an_output_of_the_wrong_size(tmp_path):
    lrs, outs = _fake_outputs(tmp_path)
    write_image(outs["full"] / "a.png", torch.rand(1, 3, 50, 80))
    from replication.errors import UserError

    with pytest.raises(UserError, match="not an integer multiple"):
        render_grid(grid_rows(lrs, outs, 1), crop=32, title="t")


def _inputs(tmp_path: Path, profile: str = "smoke") -> ReportInputs:
    params = load_params(ROOT / "params.yaml", profile=profile)
    runs = tmp_path / "runs"
    _write_tsv(runs / "full" / "net" / "dvclive/plots/metrics/train/l_pix.tsv", "l_pix", [(0, 0.5), (5, 0.4)])
    lrs, outs = _fake_outputs(tmp_path)
    grid = render_grid(grid_rows(lrs, outs, 2), 32, "grid")
    return ReportInputs(
        params=params,
        summary=fake_summary(profile),
        curves=find_curves(runs),
        grids=[Grid("realsrset", grid)],
        previews=[("preview", grid)],
        unavailable={"dan": "no weights"},
        validation_dataset="val-set14",
    )


def test_html_is_self_contained_and_has_every_section(tmp_path):
    doc = build_report(_inputs(tmp_path))
    page = to_html(doc)
    assert "NOT comparable to the paper" in page and 'class="banner no"' in page
    # no external resources: no URL in any src/href, no script
    assert not re.search(r'(src|href)="(?!data:)', page)
    assert "<script" not in page
    assert page.count("data:image/png;base64,") == 3  # net curves (no gan logs here), one grid, one preview
    for text in (
        "Table 1 reproduced",
        "4.5314 / —",
        "UNTRAINED VGG19",
        "official-fp16-rounded",
        "`dan` not available: no weights",
        "first 3 of 20",
        "Training curves",
        "Qualitative comparison",
        "Degradation previews",
        "val-set14",
        "22.500 [21.000, 24.000]",
    ):
        assert (text.replace("`", "") in re.sub("<[^>]+>", "", page)) or text in page, text


def test_markdown_writes_its_images_beside_it(tmp_path):
    doc = build_report(_inputs(tmp_path))
    files = write_markdown(doc, tmp_path / "out" / "report.md")
    md = (tmp_path / "out" / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert links and all((tmp_path / "out" / link).is_file() for link in links)
    assert len(files) == len(links) + 1
    assert "| Method (paper) |" in md and "⚠️" in md


def test_real_scale_profile_gets_the_comparable_banner(tmp_path):
    doc = build_report(_inputs(tmp_path, profile="paper"))
    text, _ = to_markdown(doc, "static")
    assert "real-scale results" in text and "NOT comparable" not in text
    assert "UNTRAINED" not in text  # the paper profile uses ImageNet VGG19


def test_banner_says_what_the_profile_is_for():
    from replication.report.render import banner

    smoke, study = load_params(ROOT / "params.yaml"), load_params(ROOT / "params.yaml", profile="study")
    assert "checks that the pipeline works end to end" in banner(smoke).text
    text = banner(study).text
    assert f"over {len(study.active.seeds)} seeds" in text and "end to end" not in text
    assert "NOT comparable" in text


def test_image_comparisons_cover_every_synthetic_set(tmp_path):
    from replication.errors import UserError
    from replication.report.stage import ReportPaths, shown_sets

    params = load_params(ROOT / "params.yaml")
    p = params.active
    img = torch.rand(1, 3, 8, 8)
    for name in p.evaluate.test_sets:
        write_image(tmp_path / "test" / name / name / "a.png", img)
    write_image(tmp_path / "val" / "lq" / "v.png", img)
    for variant in p.validation.extra_variants:
        write_image(tmp_path / "val-extra" / variant / "lq" / "x.png", img)
    paths = ReportPaths(test_root=tmp_path / "test", val_lq=tmp_path / "val" / "lq", val_name="val-set14")
    names = [s.dataset for s in shown_sets(paths, params)]
    assert names == [*p.evaluate.test_sets, "val-set14"]  # no --val-extra: the extra sets are not shown
    paths = ReportPaths(
        test_root=tmp_path / "test",
        val_lq=tmp_path / "val" / "lq",
        val_name="val-set14",
        val_extra=tmp_path / "val-extra",
    )
    shown = {s.dataset: s.lr_files for s in shown_sets(paths, params)}
    assert shown[p.evaluate.test_sets[0]]() == [
        tmp_path / "test" / p.evaluate.test_sets[0] / p.evaluate.test_sets[0] / "a.png"
    ]
    for variant in p.validation.extra_variants:
        assert shown[f"val-set14-{variant}"]() == [tmp_path / "val-extra" / variant / "lq" / "x.png"]
    variant = p.validation.extra_variants[0]
    (tmp_path / "val-extra" / variant / "lq" / "x.png").unlink()
    (tmp_path / "val-extra" / variant / "lq").rmdir()
    files = {s.dataset: s.lr_files for s in shown_sets(paths, params)}[
        f"val-set14-{variant}"
    ]  # listed only when some model has images
    with pytest.raises(UserError, match="folder not found"):
        files()


def test_curves_panel_per_loss_without_the_lr_schedule(tmp_path):
    from replication.report.curves import lr_note, plotted_names

    runs = tmp_path / "runs"
    for run in ("full-s0", "full-s1", "no_sinc-s0"):
        metrics = runs / run / "gan" / "dvclive/plots/metrics"
        for name, value in (("l_g_pix", 0.1), ("l_d_fake", 0.7), ("lr", 1e-4)):
            _write_tsv(metrics / "train" / f"{name}.tsv", name, [(0, value), (10, value)])
        _write_tsv(metrics / "val" / "psnr.tsv", "psnr", [(10, 21.0)])  # a validation curve, when logged
    curves = find_curves(runs)
    # the generator's terms, then the discriminator's, then validation curves; no flat lr panel
    assert plotted_names(curves, "gan") == ["train/l_g_pix", "train/l_d_fake", "val/psnr"]
    assert lr_note(curves, "gan") == "learning rate 0.0001 throughout (no milestone reached)"
    assert lr_note(curves, "net") == ""
    png = plot_phase(curves, "gan", "gan", ("full", "no_sinc"))
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"


def test_crop_psnr():
    from replication.report.grids import crop_psnr

    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    assert crop_psnr(a, b) == float("inf")
    b[0, 0, 0] = 255  # MSE = 255^2 / 48 -> PSNR = 10 log10(48)
    assert crop_psnr(a, b) == pytest.approx(10 * np.log10(48))
    with pytest.raises(ValueError, match="differ in size"):
        crop_psnr(a, b[:2])


def test_crops_of_outputs_of_different_scales_cover_the_same_window(tmp_path):
    """A ×2 and a ×4 output of one LR image give the crop of the same LR window (each at its scale)."""
    from replication.report.grids import crops_for

    gen = torch.Generator().manual_seed(3)
    lr = torch.rand(1, 3, 20, 24, generator=gen)
    lr_path = write_image(tmp_path / "lr.png", lr)
    x2 = write_image(tmp_path / "x2.png", lr.repeat_interleave(2, -1).repeat_interleave(2, -2))
    x4 = write_image(tmp_path / "x4.png", lr.repeat_interleave(4, -1).repeat_interleave(4, -2))
    lr8, (top, left, side), crops = crops_for(lr_path, {"x2": x2, "x4": x4}, crop=32)
    assert side == 8  # the window is crop // the largest scale
    window = lr8[top : top + side, left : left + side]
    assert np.array_equal(crops["x2"][::2, ::2], window)
    assert np.array_equal(crops["x4"][::4, ::4], window)


def test_grid_with_gt_names_and_representative_seed(tmp_path):
    import json

    from replication.report.grids import REFERENCE
    from replication.report.stage import grid_models, synthetic_names

    params = load_params(ROOT / "params.yaml", profile="study")
    main, rest = grid_models(params)
    seed = min(params.active.seeds)
    assert main[: len(params.active.evaluate.baselines)] == list(params.active.evaluate.baselines)
    assert main[len(params.active.evaluate.baselines) :] == [f"{v}-s{seed}" for v in params.variants]
    assert "full-s1" in rest and "full-s0-net" in rest and "full-s0" not in rest

    (tmp_path / "synthesis.json").write_text(json.dumps({"sources": ["baboon.png", "zebra.png"]}))
    assert synthetic_names(tmp_path, "set14") == {
        "000000.png": "val #0 (set14 baboon.png)",
        "000001.png": "val #1 (set14 zebra.png)",
    }
    assert synthetic_names(tmp_path / "missing", "set14") == {}

    gen = torch.Generator().manual_seed(2)
    lr_path = write_image(tmp_path / "lq" / "000000.png", torch.rand(1, 3, 16, 16, generator=gen))
    gt = write_image(tmp_path / "gt" / "000000.png", torch.rand(1, 3, 64, 64, generator=gen))
    out = write_image(tmp_path / "m" / "000000.png", torch.rand(1, 3, 64, 64, generator=gen))
    rows = grid_rows([lr_path], {REFERENCE: gt.parent, "m": out.parent}, 1, synthetic_names(tmp_path, "set14"))
    assert rows[0][0] == "val #0 (set14 baboon.png)"
    png = render_grid(rows, 32, "t")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_headline_metrics_stay_under_50_columns():
    from replication.report.stage import headline_json

    params = load_params(ROOT / "params.yaml", profile="paper")
    p = params.active
    rows = []
    models = [*p.evaluate.baselines, *(f"{v}-s{s}{n}" for v in params.variants for s in (0, 1) for n in ("", "-net"))]
    for i, model in enumerate(models):
        for dataset in p.evaluate.test_sets:
            rows.append((model, "x", "paper", dataset, "full", "niqe", True, 2, 0, 5.0 + i, 0, 0, 0))
            rows.append((model, "x", "paper", dataset, "full", "brisque", True, 2, 0, 30.0, 0, 0, 0))
        rows.append((model, "x", "paper", "val-div2k", "full", "psnr", False, 2, 0, 20.0 + i, 0, 0, 0))
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    head = headline_json(summary, params, "val-div2k")
    assert sum(len(v) for v in head.values()) <= 50
    assert set(head) == {*p.evaluate.baselines, *params.variants}  # one row per variant, no -net rows
    i0, i1 = models.index("full-s0"), models.index("full-s1")
    assert head["full"] == {"niqe_test": 5.0 + (i0 + i1) / 2, "psnr_val": 20.0 + (i0 + i1) / 2}


def test_details_fold_in_markdown_and_html():
    from replication.report.document import Details, Document, Image

    doc = Document("t")
    doc.add(Details("more <seeds>", (Image("more.png", b"\x89PNG", "other seeds"),)))
    md, files = to_markdown(doc, "static")
    assert "<details>\n<summary>more &lt;seeds&gt;</summary>\n\n![other seeds](static/more.png)" in md
    assert md.index("</details>") > md.index("static/more.png") and set(files) == {"static/more.png"}
    page = to_html(doc)
    assert re.search(r"<details><summary>more &lt;seeds&gt;</summary>\s*<figure><img", page)
    assert "</figure>\n</details>" in page
